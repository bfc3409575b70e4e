/**
 * The security part of a container's OCI spec from the CRI LinuxContainerSecurityContext: capabilities,
 * privileged mode, no_new_privs, seccomp, masked and read-only paths — with containerd's rules:
 *  - privileged: every capability, no seccomp, no masked/read-only paths, all host devices, writable sysfs;
 *  - masked_paths / readonly_paths: the kubelet's lists when given, containerd's defaults when empty;
 *  - AppArmor is ignored (the host has none) and SELinux labels likewise.
 */
import type * as cri from '../../cri/types';
import { InvalidArgumentError } from '../../errors';
import {
  availableCapabilities,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  computeCapabilities,
} from '../../host/oci-defaults';
import type { OciCapabilities, OciSeccomp } from '../../host/oci-spec';
import { chooseSeccomp, seccompFor } from '../../host/seccomp';

type SecurityContext = NonNullable<cri.ContainerConfig['linux']>['security_context'];

export interface SecurityPlan {
  readonly privileged: boolean;
  readonly capabilities: OciCapabilities;
  readonly noNewPrivileges: boolean;
  readonly seccomp?: OciSeccomp;
  readonly maskedPaths: string[];
  readonly readonlyPaths: string[];
  readonly readonlyRootfs: boolean;
}

/** Capability names must be plain identifiers: anything else would reach the runtime as garbage. */
function checkCapNames(list: readonly string[], field: string): void {
  list.forEach((c, i) => {
    if (!/^[A-Za-z_]+$/.test(c))
      throw new InvalidArgumentError(`create container: ${field}[${i}]: "${c}" is not a capability name`);
  });
}

export async function securityPlan(
  sc: SecurityContext,
  opts: { readonly runtimeDefaultSeccomp: string; readonly sandboxPrivileged: boolean },
): Promise<SecurityPlan> {
  const privileged = sc?.privileged ?? false;
  if (privileged && !opts.sandboxPrivileged) {
    // The kubelet only sends privileged containers in privileged pods; a mismatch is a malformed request.
    throw new InvalidArgumentError(
      'create container: config.linux.security_context.privileged: the pod sandbox is not privileged',
    );
  }
  const add = sc?.capabilities?.add_capabilities ?? [];
  const drop = sc?.capabilities?.drop_capabilities ?? [];
  checkCapNames(add, 'config.linux.security_context.capabilities.add_capabilities');
  checkCapNames(drop, 'config.linux.security_context.capabilities.drop_capabilities');
  const caps = privileged ? availableCapabilities() : computeCapabilities(add, drop);
  const ambientAdd = (sc?.capabilities?.add_ambient_capabilities ?? []).map(
    (c) => `CAP_${c.replace(/^CAP_/i, '').toUpperCase()}`,
  );
  const capabilities: OciCapabilities = {
    bounding: caps,
    effective: caps,
    permitted: caps,
    // Ambient capabilities must also be inheritable, and only make sense for non-root users.
    ...(ambientAdd.length > 0 ? { inheritable: ambientAdd, ambient: ambientAdd } : {}),
  };

  let seccomp: OciSeccomp | undefined;
  if (!privileged && sc) {
    const choice = chooseSeccomp(sc, 'config.linux.security_context');
    seccomp = await seccompFor(choice, caps, opts.runtimeDefaultSeccomp);
  }

  return {
    privileged,
    capabilities,
    noNewPrivileges: !privileged && (sc?.no_new_privs ?? false),
    seccomp,
    maskedPaths: privileged ? [] : sc?.masked_paths.length ? [...sc.masked_paths] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: privileged ? [] : sc?.readonly_paths.length ? [...sc.readonly_paths] : [...DEFAULT_READONLY_PATHS],
    readonlyRootfs: sc?.readonly_rootfs ?? false,
  };
}

/** Refuses namespace options the runc backend does not implement, naming the field. */
export function checkNamespaceOptions(
  ns: { network: string; pid: string; ipc: string; target_id: string; userns_options: unknown } | null | undefined,
  field: string,
): void {
  if (!ns) return;
  if (ns.pid === 'TARGET') {
    throw new InvalidArgumentError(
      `${field}.pid: TARGET (ephemeral container PID namespaces) is not supported by the runc backend`,
    );
  }
  if (ns.network === 'TARGET' || ns.ipc === 'TARGET') {
    throw new InvalidArgumentError(`${field}: TARGET is only meaningful for pid`);
  }
  const userns = ns.userns_options as { mode?: string } | null;
  if (userns && userns.mode && userns.mode !== 'NODE') {
    throw new InvalidArgumentError(`${field}.userns_options: user namespaces are not supported by the runc backend`);
  }
}
