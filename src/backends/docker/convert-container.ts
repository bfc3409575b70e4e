/**
 * CreateContainer → a Docker create body. Pure: the caller resolves the image, the sandbox's pause container,
 * a PID-target container, the seccomp profile's content and the oom_score_adj floor beforehand.
 *
 * Kubernetes semantics kept: `command` replaces the image entrypoint (and then the image's cmd is not used — Docker
 * does the same when Entrypoint is set), `args` replaces the image cmd; the container joins the pause container's
 * network and IPC namespaces, and its PID namespace when the pod shares one.
 */
import type * as cri from '../../cri/types';
import type { LinuxContainerSecurityContext as SecurityContext } from '../../cri/types';
import { InvalidArgumentError } from '../../errors';
import { availableCapabilities } from '../../host/oci-defaults';
import { chooseSeccomp } from '../../host/seccomp';
import { normaliseSignal } from '../../host/container-process';
import type { CreateContainerBody } from './engine-types';
import { containerLabels, type ContainerIdentity } from './records';
import { toDockerResources } from './convert-resources';
import { clampOomScoreAdj, criResourceNumbers } from '../../host/cri-resources';

export interface ContainerBodyInput {
  readonly id: string;
  readonly sandboxId: string;
  /** Docker ID of the sandbox's pause container. */
  readonly pauseId: string;
  /** Docker ID of the target container when namespace_options.pid is TARGET. */
  readonly pidTargetId?: string;
  readonly config: cri.ContainerConfig;
  readonly sandboxConfig: cri.PodSandboxConfig;
  readonly imageId: string;
  readonly imageRef: string;
  readonly createdAt: string;
  readonly logPath: string;
  readonly dockerRuntime: string;
  /** Docker's LogConfig for the container (driver and rotation options). */
  readonly logConfig: { Type: string; Config?: Record<string, string> };
  /** Content of the Localhost seccomp profile, read by the caller (Docker wants the JSON, not a path). */
  readonly seccompProfile?: string;
  readonly oomScoreAdjFloor: number;
  /** The process's identity resolved by the shared rule, recorded for ContainerStatus.user (identity.ts). */
  readonly user?: ContainerIdentity;
}

const PROPAGATION: Record<string, string> = {
  PROPAGATION_PRIVATE: '',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

/** `host:container[:opts]` binds; Docker's syntax cannot carry ':' or ',' inside paths. */
export function toBinds(mounts: cri.ContainerConfig['mounts']): string[] {
  return mounts.map((m) => {
    for (const p of [m.host_path, m.container_path]) {
      if (!p.startsWith('/') || /[:,]/.test(p)) {
        throw new InvalidArgumentError(
          `convert mount ${m.host_path} → ${m.container_path}: paths must be absolute, without ':' or ','`,
        );
      }
    }
    if (m.image)
      throw new InvalidArgumentError(
        `convert mount ${m.container_path}: image volumes are not supported by the docker backend`,
      );
    if (m.recursive_read_only) {
      throw new InvalidArgumentError(
        `convert mount ${m.container_path}: recursive read-only mounts are not supported by the docker backend`,
      );
    }
    const opts = [m.readonly ? 'ro' : 'rw'];
    const prop = PROPAGATION[m.propagation] ?? '';
    if (prop) opts.push(prop);
    if (m.selinux_relabel) opts.push('Z');
    return `${m.host_path}:${m.container_path}:${opts.join(',')}`;
  });
}

/** CRI Signal enum name → the signal name Docker takes ("SIGRTMINPLUS1" → "SIGRTMIN+1"); '' for the default. */
export function stopSignalName(sig: string | undefined): string {
  if (!sig || sig === 'RUNTIME_DEFAULT') return '';
  return normaliseSignal(sig);
}

/** Docker SecurityOpt entries for the container's security context. */
export function securityOpts(sc: SecurityContext | null | undefined, seccompProfile?: string): string[] {
  const out: string[] = [];
  if (sc?.no_new_privs) out.push('no-new-privileges');
  // The CRI's rule (shared with every backend), not Docker's: no profile asked for means unconfined, whereas
  // Docker would apply its default profile to a container created without a seccomp option.
  const choice = chooseSeccomp(sc ?? { seccomp: null, seccomp_profile_path: '' }, 'config.linux.security_context');
  if (choice.kind === 'unconfined') out.push('seccomp=unconfined');
  else if (choice.kind === 'localhost') {
    if (seccompProfile === undefined)
      throw new InvalidArgumentError('convert security context: Localhost seccomp profile not loaded');
    out.push(`seccomp=${seccompProfile}`);
  }
  // AppArmor: only an explicit Localhost profile is passed on; RuntimeDefault/Unconfined need nothing from Docker.
  if (sc?.apparmor?.profile_type === 'Localhost' && sc.apparmor.localhost_ref)
    out.push(`apparmor=${sc.apparmor.localhost_ref}`);
  return out;
}

/** The Localhost seccomp profile path a security context asks for, if any. */
export function seccompProfilePath(sc: SecurityContext | null | undefined): string | undefined {
  if (!sc) return undefined;
  const choice = chooseSeccomp(sc, 'config.linux.security_context');
  return choice.kind === 'localhost' ? choice.path : undefined;
}

/**
 * "ALL" as containerd means it: every capability this node's runtime holds. Docker would ask runc for every
 * capability the kernel knows, which fails outright on a node whose bounding set lacks one (this host lacks
 * CAP_SYS_RESOURCE).
 */
function expandAll(caps: readonly string[] | undefined): string[] | undefined {
  if (!caps?.length) return undefined;
  if (!caps.some((c) => c.toUpperCase() === 'ALL')) return [...caps];
  return availableCapabilities();
}

function userOf(sc: SecurityContext): string | undefined {
  const user = sc.run_as_username || (sc.run_as_user ? sc.run_as_user.value : '');
  if (!user) return undefined;
  return sc.run_as_group ? `${user}:${sc.run_as_group.value}` : user;
}

function pidMode(mode: string | undefined, i: ContainerBodyInput): string | undefined {
  if (mode === 'NODE') return 'host';
  if (mode === 'POD') return `container:${i.pauseId}`;
  if (mode === 'TARGET') {
    if (!i.pidTargetId)
      throw new InvalidArgumentError('convert container: PID namespace TARGET without a target container');
    return `container:${i.pidTargetId}`;
  }
  return undefined;
}

export function containerCreateBody(i: ContainerBodyInput): { body: CreateContainerBody; oomClamped: boolean } {
  const c = i.config;
  const sc = c.linux?.security_context ?? null;
  const ns = sc?.namespace_options;
  const oom = clampOomScoreAdj(
    criResourceNumbers(c.linux?.resources, 'config.linux.resources').oomScoreAdj,
    i.oomScoreAdjFloor,
  );
  const privileged = sc?.privileged ?? false;
  const body: CreateContainerBody = {
    Image: i.imageId,
    Entrypoint: c.command.length ? c.command : undefined,
    Cmd: c.args.length ? c.args : undefined,
    Env: c.envs.map((e) => `${e.key}=${e.value}`),
    WorkingDir: c.working_dir || undefined,
    User: sc ? userOf(sc) : undefined,
    Tty: c.tty,
    OpenStdin: c.stdin,
    StdinOnce: c.stdin_once,
    AttachStdin: c.stdin,
    AttachStdout: true,
    AttachStderr: !c.tty,
    StopSignal: stopSignalName(c.stop_signal) || undefined,
    Labels: containerLabels({
      id: i.id,
      sandboxId: i.sandboxId,
      createdAt: i.createdAt,
      config: c,
      imageRef: i.imageRef,
      logPath: i.logPath,
      user: i.user,
    }),
    HostConfig: {
      ...toDockerResources(c.linux?.resources, 'config.linux.resources'),
      OomScoreAdj: oom.value,
      Binds: toBinds(c.mounts),
      NetworkMode: `container:${i.pauseId}`,
      IpcMode: ns?.ipc === 'NODE' ? 'host' : `container:${i.pauseId}`,
      PidMode: pidMode(ns?.pid, i),
      Privileged: privileged,
      ReadonlyRootfs: sc?.readonly_rootfs ?? false,
      CapAdd: expandAll(sc?.capabilities?.add_capabilities),
      CapDrop: sc?.capabilities?.drop_capabilities.length ? sc.capabilities.drop_capabilities : undefined,
      SecurityOpt: securityOpts(sc, i.seccompProfile),
      // Privileged containers see everything (Docker ignores these then); otherwise the kubelet's lists apply as given.
      MaskedPaths: sc && !privileged ? sc.masked_paths : undefined,
      ReadonlyPaths: sc && !privileged ? sc.readonly_paths : undefined,
      Devices: c.devices.map((d) => ({
        PathOnHost: d.host_path,
        PathInContainer: d.container_path,
        CgroupPermissions: d.permissions || 'rwm',
      })),
      GroupAdd: sc?.supplemental_groups.length ? sc.supplemental_groups : undefined,
      CgroupParent: i.sandboxConfig.linux?.cgroup_parent || undefined,
      Runtime: i.dockerRuntime || undefined,
      LogConfig: i.logConfig,
      RestartPolicy: { Name: 'no' },
    },
  };
  return { body, oomClamped: oom.clamped };
}
