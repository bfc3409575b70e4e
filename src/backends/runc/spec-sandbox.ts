/**
 * The OCI spec of a pod's pause (infra) container, after containerd's sandbox spec: it runs the pause image's
 * entrypoint as the image user with a read-only root and no new privileges, creates the pod's UTS, IPC and (for
 * pod-shared PID) PID namespaces, and joins the pod netns. Its cgroup is <pod cgroup parent>/<sandbox id> with
 * two CPU shares, so it never competes with the pod's containers.
 */
import { containerCgroupsPath } from './cgroup-driver';
import type * as cri from '../../cri/types';
import type { Logger } from '../../log/logger';
import type { ResolvedImage } from '../../images/types';
import {
  availableCapabilities,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  defaultMounts,
} from '../../host/oci-defaults';
import type { OciNamespace, OciSpec } from '../../host/oci-spec';
import { resolveUser } from '../../host/passwd';
import { chooseSeccomp, seccompFor } from '../../host/seccomp';
import { clampOomScoreAdj } from './spec-resources';
import type { Layout } from './layout';

/** containerd's defaultSandboxOOMAdj: the pause container should be the last to die. */
const SANDBOX_OOM_SCORE_ADJ = -998;

export interface SandboxSpecInput {
  readonly id: string;
  readonly config: cri.PodSandboxConfig;
  readonly image: ResolvedImage;
  readonly rootfs: string;
  readonly hostname: string;
  readonly netnsPath?: string;
  readonly hostNetwork: boolean;
  readonly hostIpc: boolean;
  readonly hostPid: boolean;
  readonly shmPath?: string;
  readonly cgroupParent: string;
  readonly layout: Layout;
  readonly runtimeDefaultSeccomp: string;
  readonly oomScoreAdjFloor: number;
  readonly log: Logger;
}

export async function buildSandboxSpec(inp: SandboxSpecInput): Promise<OciSpec> {
  const sc = inp.config.linux?.security_context ?? null;
  const privileged = sc?.privileged ?? false;
  const args = [...(inp.image.config.entrypoint ?? []), ...(inp.image.config.cmd ?? [])];
  if (args.length === 0) args.push('/pause');
  const user = await resolveUser(inp.rootfs, {
    spec: inp.image.config.user,
    uid: sc?.run_as_user ? Number(sc.run_as_user.value) : undefined,
    gid: sc?.run_as_group ? Number(sc.run_as_group.value) : undefined,
  });
  const caps = privileged ? availableCapabilities() : [...DEFAULT_CAPABILITIES];
  const seccomp =
    privileged || !sc
      ? undefined
      : await seccompFor(chooseSeccomp(sc, 'config.linux.security_context'), caps, inp.runtimeDefaultSeccomp);

  const ns: OciNamespace[] = [{ type: 'mount' }];
  if (!inp.hostNetwork) {
    ns.push({ type: 'network', path: inp.netnsPath });
    ns.push({ type: 'uts' });
  }
  if (!inp.hostIpc) ns.push({ type: 'ipc' });
  if (!inp.hostPid) ns.push({ type: 'pid' });

  const mounts = defaultMounts({ readonlySysfs: !privileged });
  mounts.push({
    destination: '/dev/shm',
    type: 'bind',
    source: inp.shmPath ?? '/dev/shm',
    options: ['rbind', 'rprivate', 'rw'],
  });
  mounts.push({
    destination: '/etc/resolv.conf',
    type: 'bind',
    source: inp.layout.podFile(inp.id, 'resolv.conf'),
    options: ['rbind', 'rprivate', 'ro'],
  });

  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid },
      args,
      env: inp.image.config.env?.length
        ? [...inp.image.config.env]
        : ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
      oomScoreAdj: clampOomScoreAdj(
        SANDBOX_OOM_SCORE_ADJ,
        inp.oomScoreAdjFloor,
        inp.log,
        `pause container of sandbox ${inp.id}`,
      ),
    },
    root: { path: inp.rootfs, readonly: true },
    hostname: inp.hostNetwork ? undefined : inp.hostname,
    mounts,
    annotations: {
      'io.kubernetes.cri.container-type': 'sandbox',
      'io.kubernetes.cri.sandbox-id': inp.id,
      'io.kubernetes.cri.sandbox-name': inp.config.metadata?.name ?? '',
      'io.kubernetes.cri.sandbox-namespace': inp.config.metadata?.namespace ?? '',
      'io.kubernetes.cri.sandbox-uid': inp.config.metadata?.uid ?? '',
      'io.kubernetes.cri.sandbox-log-directory': inp.config.log_directory,
    },
    linux: {
      namespaces: ns,
      cgroupsPath: containerCgroupsPath(inp.cgroupParent, inp.id),
      resources: {
        cpu: { shares: 2 },
        devices: privileged ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }],
      },
      sysctl: { ...(inp.config.linux?.sysctls ?? {}) },
      maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
      readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
      ...(seccomp ? { seccomp } : {}),
    },
  };
}
