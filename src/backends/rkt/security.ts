/**
 * The SecurityContext policy of the rkt backend.
 *
 * Two kinds of refusals, deliberately different:
 *  - Restrictions the pod manager cannot enforce (seccomp, no_new_privs on a real rkt, a capability drop the
 *    enter chain cannot honour…): InvalidArgument naming the field, or — when the operator set
 *    backends.rkt.securityPolicy=warn — a warning, and the pod runs without that restriction.
 *  - Requests for more than the stage1 can give (user namespaces, propagation into or out of the container):
 *    always InvalidArgument, whatever the policy, because "warn" would silently run something else than what was
 *    asked for. Privilege, host PID/IPC and PID targets are refused by the router, from RKT_CAPABILITIES.
 * SELinux and AppArmor options are ignored with a warning, as rktlet did (no LSM is active on these hosts).
 */
import { InvalidArgumentError } from '../../errors';
import { isIpcSysctl } from '../../host/sysctls';
import type * as cri from '../../cri/types';
import type { Logger } from '../../log/logger';
import type { SecurityPolicy } from './config';
import type { SecurityFeature } from './pod-manager';

export interface Violation {
  /** The CRI field, e.g. "linux.security_context.seccomp". */
  readonly field: string;
  readonly why: string;
  /** false: never allowed, whatever the policy. */
  readonly waivable: boolean;
}

type ContainerSC = NonNullable<NonNullable<cri.ContainerConfig['linux']>['security_context']>;

const SC = 'linux.security_context';

/** What a pod sandbox asks that no rkt pod manager can give. */
export function sandboxViolations(
  config: cri.PodSandboxConfig,
  enforces: readonly SecurityFeature[] = [],
): Violation[] {
  const out: Violation[] = [];
  // Privilege, host PID/IPC and user namespaces never reach here: the router holds pods to RktBackend.capabilities.
  for (const key of Object.keys(config.linux?.sysctls ?? {})) {
    // The router already refused sysctls no namespace of the pod owns, and net.* ones on the host network
    // (src/router/validate.ts): what is left is whether this pod manager can set IPC ones.
    if (isIpcSysctl(key) && !enforces.includes('ipcSysctls'))
      out.push(hard(`linux.sysctls.${key}`, 'IPC sysctls cannot be set in the pod by this pod manager'));
  }
  if (config.windows) out.push(hard('windows', 'Windows sandboxes are not supported'));
  return out;
}

/** What a container asks that this pod manager (by its enforced features) cannot do. */
export function containerViolations(config: cri.ContainerConfig, enforces: readonly SecurityFeature[]): Violation[] {
  const out: Violation[] = [];
  const has = (f: SecurityFeature): boolean => enforces.includes(f);
  const sc: ContainerSC | null | undefined = config.linux?.security_context;
  // Privilege, host PID/IPC and PID targets are the router's check (RKT_CAPABILITIES, src/router/containers.ts).
  if (sc?.namespace_options?.pid === 'CONTAINER' && !enforces.includes('containerPidNamespace')) {
    out.push(
      soft(`${SC}.namespace_options.pid`, 'apps share the pod PID namespace (pid=CONTAINER cannot be honoured)'),
    );
  }
  if (config.tty)
    out.push(soft('tty', 'containers with a terminal are not supported (conmon needs an OCI runtime console socket)'));
  if (config.devices.length > 0 || config.CDI_devices.length > 0)
    out.push(hard('devices', 'device passthrough is not supported'));
  for (const [i, m] of config.mounts.entries()) {
    if (m.propagation && m.propagation !== 'PROPAGATION_PRIVATE') {
      out.push(
        hard(`mounts[${i}].propagation`, 'volumes are private binds; rkt never passed propagation (rktlet#131)'),
      );
    }
    if (m.image) out.push(hard(`mounts[${i}].image`, 'image volumes are not supported'));
    if (m.uidMappings.length > 0 || m.gidMappings.length > 0)
      out.push(hard(`mounts[${i}].uidMappings`, 'idmapped mounts are not supported'));
  }
  if (!sc) return out;
  const seccomp = sc.seccomp?.profile_type;
  const confined =
    (seccomp && seccomp !== 'Unconfined') ||
    (!seccomp && sc.seccomp_profile_path && sc.seccomp_profile_path !== 'unconfined');
  if (confined && !has('seccomp')) out.push(soft(`${SC}.seccomp`, 'seccomp profiles cannot be applied'));
  if (sc.no_new_privs && !has('noNewPrivileges')) out.push(soft(`${SC}.no_new_privs`, 'no_new_privs cannot be set'));
  if (sc.supplemental_groups.length > 0 && !has('supplementalGroups')) {
    out.push(soft(`${SC}.supplemental_groups`, 'supplementary groups cannot be set'));
  }
  if (sc.readonly_rootfs && !has('readonlyRootfs'))
    out.push(soft(`${SC}.readonly_rootfs`, 'a read-only root cannot be enforced'));
  if (sc.masked_paths.length > 0 && !has('maskedPaths')) out.push(soft(`${SC}.masked_paths`, 'paths cannot be masked'));
  if (sc.readonly_paths.length > 0 && !has('readonlyPaths'))
    out.push(soft(`${SC}.readonly_paths`, 'paths cannot be made read-only'));
  const caps = sc.capabilities;
  if (caps && (caps.add_capabilities.length > 0 || caps.drop_capabilities.length > 0) && !has('capabilities')) {
    out.push(soft(`${SC}.capabilities`, 'capabilities cannot be changed'));
  }
  if (caps && caps.add_ambient_capabilities.length > 0)
    out.push(soft(`${SC}.capabilities.add_ambient_capabilities`, 'ambient capabilities are not supported'));
  return out;
}

/** Apply the policy: throw for the first violation that may not pass, log the ones waived. */
export function enforce(what: string, violations: readonly Violation[], policy: SecurityPolicy, log: Logger): void {
  for (const v of violations) {
    if (!v.waivable || policy === 'reject') {
      throw new InvalidArgumentError(`${what}: ${v.field}: ${v.why}`, { context: { field: v.field } });
    }
  }
  for (const v of violations)
    log.warn('security context not enforced (backends.rkt.securityPolicy=warn)', { field: v.field, why: v.why });
}

/** LSM options the backend ignores, for a warning. */
export function ignoredLsmFields(config: cri.ContainerConfig): string[] {
  const sc = config.linux?.security_context;
  const out: string[] = [];
  if (
    sc?.selinux_options &&
    (sc.selinux_options.type || sc.selinux_options.level || sc.selinux_options.role || sc.selinux_options.user)
  )
    out.push(`${SC}.selinux_options`);
  if ((sc?.apparmor && sc.apparmor.profile_type !== 'Unconfined') || sc?.apparmor_profile) out.push(`${SC}.apparmor`);
  return out;
}

function hard(field: string, why: string): Violation {
  return { field, why, waivable: false };
}

function soft(field: string, why: string): Violation {
  return { field, why, waivable: true };
}
