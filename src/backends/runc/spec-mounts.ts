/**
 * The mounts of a container: the standard Linux set, the pod's shared files (/etc/hosts, /etc/hostname,
 * /etc/resolv.conf, /dev/shm) unless the kubelet mounts its own there, and the CRI mounts with their propagation.
 *
 * CRI mounts are sorted by depth (parents before children, like containerd), because the runtime mounts in order.
 * SELinux relabelling is ignored: this host has no SELinux.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as cri from '../../cri/types';
import { InvalidArgumentError } from '../../errors';
import { defaultMounts } from '../../host/oci-defaults';
import type { OciMount } from '../../host/oci-spec';

export interface PodMountSources {
  readonly hostname: string;
  readonly hosts: string;
  readonly resolvConf: string;
  /** The pod's shm tmpfs, or /dev/shm of the host for host-IPC pods. */
  readonly shm: string;
  /** Whether the container joins a UTS namespace with the pod hostname (not for host-network pods). */
  readonly mountHostname: boolean;
}

export interface MountPlan {
  readonly mounts: OciMount[];
  /** private, rslave or rshared: the strongest propagation any CRI mount asked for. */
  readonly rootfsPropagation?: string;
}

const PROPAGATION: Record<string, string> = {
  PROPAGATION_PRIVATE: 'rprivate',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

const clean = (p: string): string => path.posix.normalize(p).replace(/\/+$/, '') || '/';
const depth = (p: string): number => clean(p).split('/').length;

export async function containerMounts(
  crimounts: readonly cri.ContainerConfig['mounts'][number][],
  pod: PodMountSources,
  opts: { readonly privileged: boolean },
): Promise<MountPlan> {
  const wanted = new Set(crimounts.map((m) => clean(m.container_path)));
  const mounts: OciMount[] = defaultMounts({ readonlySysfs: !opts.privileged });

  const podFile = (dest: string, source: string, ro: boolean): void => {
    if (!wanted.has(dest))
      mounts.push({ destination: dest, type: 'bind', source, options: ['rbind', 'rprivate', ro ? 'ro' : 'rw'] });
  };
  podFile('/etc/hosts', pod.hosts, false);
  if (pod.mountHostname) podFile('/etc/hostname', pod.hostname, false);
  podFile('/etc/resolv.conf', pod.resolvConf, false);
  if (!wanted.has('/dev/shm')) {
    mounts.push({ destination: '/dev/shm', type: 'bind', source: pod.shm, options: ['rbind', 'rprivate', 'rw'] });
  }

  let propagation: string | undefined;
  const sorted = [...crimounts.entries()].sort(([, a], [, b]) => depth(a.container_path) - depth(b.container_path));
  for (const [i, m] of sorted) {
    const field = `config.mounts[${i}]`;
    if (m.image)
      throw new InvalidArgumentError(
        `create container: ${field}.image: image volumes are not supported by the runc backend`,
      );
    if (m.uidMappings.length > 0 || m.gidMappings.length > 0) {
      throw new InvalidArgumentError(
        `create container: ${field}: ID-mapped mounts are not supported by the runc backend`,
      );
    }
    if (m.recursive_read_only) {
      throw new InvalidArgumentError(
        `create container: ${field}.recursive_read_only: not supported by runc 1.1 (no rro mounts)`,
      );
    }
    if (!m.host_path) throw new InvalidArgumentError(`create container: ${field}.host_path: required`);
    await ensureSource(m.host_path, field);
    const prop = PROPAGATION[m.propagation] ?? 'rprivate';
    if (prop === 'rshared') propagation = 'rshared';
    else if (prop === 'rslave' && propagation !== 'rshared') propagation = 'rslave';
    // Drop a default mount at the same place (e.g. a kubelet-provided /dev/shm or /sys/fs/cgroup): the CRI wins.
    const dest = clean(m.container_path);
    for (let j = mounts.length - 1; j >= 0; j--) if (clean(mounts[j]!.destination) === dest) mounts.splice(j, 1);
    mounts.push({
      destination: dest,
      type: 'bind',
      source: m.host_path,
      options: ['rbind', prop, m.readonly ? 'ro' : 'rw'],
    });
  }
  return { mounts, rootfsPropagation: propagation };
}

/** The kubelet creates volume dirs before it creates containers; a missing source is created as a dir, as in containerd. */
async function ensureSource(hostPath: string, field: string): Promise<void> {
  try {
    await fs.stat(hostPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new InvalidArgumentError(`create container: ${field}.host_path: ${(e as Error).message}`);
    }
    await fs.mkdir(hostPath, { recursive: true, mode: 0o755 });
  }
}

/** The CRI mounts as ContainerStatus reports them. */
export function statusMounts(crimounts: readonly cri.ContainerConfig['mounts'][number][]): {
  container_path: string;
  host_path: string;
  readonly: boolean;
  propagation: string;
}[] {
  return crimounts.map((m) => ({
    container_path: m.container_path,
    host_path: m.host_path,
    readonly: m.readonly,
    propagation: m.propagation,
  }));
}
