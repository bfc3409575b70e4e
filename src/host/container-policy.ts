/**
 * The container policy every backend that runs an OCI runtime shares (runc on the host, runc inside the vm
 * guest): the security part of the OCI spec from the CRI LinuxContainerSecurityContext, and the process's user
 * with its supplementary groups. One place, so a rule (which capabilities, which seccomp profile, which groups)
 * cannot drift between backends. containerd's rules:
 *  - privileged: every capability, no seccomp, no masked/read-only paths (the caller adds devices and rw sysfs);
 *  - masked_paths / readonly_paths: the kubelet's lists when given, containerd's defaults when empty;
 *  - supplementary groups: the primary GID, the image's /etc/group memberships of the user, then the CRI's;
 *  - AppArmor is ignored (the host has none) and SELinux labels likewise.
 */
import type * as cri from '../cri/types';
import { InvalidArgumentError } from '../errors';
import type { ImageConfig } from '../images/types';
import {
  availableCapabilities,
  computeCapabilities,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
} from './oci-defaults';
import type { OciCapabilities, OciLinux, OciProcess, OciSeccomp } from './oci-spec';
import { resolveUser, type FileSource, type ResolvedUser } from './passwd';
import { chooseSeccomp, seccompFor } from './seccomp';

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
    maskedPaths: privileged ? [] : sc?.masked_paths?.length ? [...sc.masked_paths] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: privileged ? [] : sc?.readonly_paths?.length ? [...sc.readonly_paths] : [...DEFAULT_READONLY_PATHS],
    readonlyRootfs: sc?.readonly_rootfs ?? false,
  };
}

/** Parses a CRI int64 decimal string field as a non-negative ID. */
function id(v: string, field: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) > 0xffffffff) {
    throw new InvalidArgumentError(`create container: ${field}: "${v}" is not a valid ID`);
  }
  return Number(v);
}

/** The user the process runs as: CRI run_as_* over the image's USER, names resolved in the container's root. */
export async function processUser(sc: SecurityContext, image: ImageConfig, files: FileSource): Promise<ResolvedUser> {
  const field = 'config.linux.security_context';
  const uid = sc?.run_as_user ? id(sc.run_as_user.value, `${field}.run_as_user`) : undefined;
  const gid = sc?.run_as_group ? id(sc.run_as_group.value, `${field}.run_as_group`) : undefined;
  const spec = sc?.run_as_username ? sc.run_as_username : uid === undefined ? image.user : undefined;
  const user = await resolveUser(
    files,
    { spec, uid, gid },
    sc?.run_as_username ? `${field}.run_as_username` : 'image user',
  );
  const extra = (sc?.supplemental_groups ?? []).map((g, i) => id(g, `${field}.supplemental_groups[${i}]`));
  // The primary GID leads the list, as containerd's ensureAdditionalGids keeps it: the process's supplementary
  // groups (getgroups) then include it, and ContainerStatus.user reports the same set the kubelet expects.
  const additionalGids = [...new Set([user.gid, ...user.additionalGids, ...extra])];
  return { ...user, additionalGids };
}

/**
 * The OCI process of a container from the resolved user, the plan and what container-process.ts derived; the one
 * shape runc on the host and runc in the vm guest run.
 */
export function ociProcess(p: {
  readonly user: ResolvedUser;
  readonly sec: SecurityPlan;
  readonly args: string[];
  readonly env: string[];
  readonly cwd: string;
  readonly terminal?: boolean;
  readonly oomScoreAdj?: number;
}): OciProcess {
  return {
    terminal: p.terminal ?? false,
    user: {
      uid: p.user.uid,
      gid: p.user.gid,
      ...(p.user.additionalGids.length ? { additionalGids: p.user.additionalGids } : {}),
    },
    args: p.args,
    env: p.env,
    cwd: p.cwd,
    capabilities: p.sec.capabilities,
    noNewPrivileges: p.sec.noNewPrivileges,
    ...(p.oomScoreAdj !== undefined ? { oomScoreAdj: p.oomScoreAdj } : {}),
  };
}

/** The plan's part of the spec's `linux` section: masked and read-only paths, and seccomp when there is one. */
export function ociLinuxSecurity(sec: SecurityPlan): Pick<OciLinux, 'maskedPaths' | 'readonlyPaths' | 'seccomp'> {
  return {
    maskedPaths: sec.maskedPaths,
    readonlyPaths: sec.readonlyPaths,
    ...(sec.seccomp ? { seccomp: sec.seccomp } : {}),
  };
}
