/**
 * Pure conversions from CRI requests to what the VM needs: validation of what a VM cannot honour, VM size, and
 * the container's OCI spec (process, security, mounts) and files the guest's runc runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../errors';
import type * as cri from '../../cri/types';
import { ociLinuxSecurity, ociProcess, type SecurityPlan } from '../../host/container-policy';
import { defaultMounts } from '../../host/oci-defaults';
import { hostsFile, resolvConf } from '../../host/pod-etc';
import type { OciSpec } from '../../host/oci-spec';
import type { ResolvedUser } from '../../host/passwd';
import type { ContainerSpec, GuestDeviceRequest } from './protocol';
import { requestedNodes } from '../../host/devices';
import { criResourceNumbers } from '../../host/cri-resources';

/**
 * What a VM cannot honour in a container beyond its capabilities (host namespaces and PID namespace targets, which
 * the router checks against VM_CAPABILITIES): mount propagation.
 */
export function validateContainer(config: cri.ContainerConfig): void {
  // Mounts reach the guest as a one-time copy (mountFiles): no mount event can cross between host and guest
  // without a shared file system (no virtio-fs or 9p here), so propagation other than private is refused.
  config.mounts.forEach((m, i) => {
    if (m.propagation === 'PROPAGATION_HOST_TO_CONTAINER' || m.propagation === 'PROPAGATION_BIDIRECTIONAL') {
      const f = `config.mounts[${i}].propagation`;
      throw new InvalidArgumentError(
        `create container: ${f}=${m.propagation} cannot be honoured in a VM sandbox (mounts are copied into the guest)`,
        { context: { field: f } },
      );
    }
  });
}

/**
 * The OCI spec of a container for the guest's runc. The security policy and the user come from the shared
 * builders (src/host/container-policy.ts), exactly as the runc backend applies them on the host. Namespaces:
 * mount, uts and pid are the container's own (pid: the agent swaps in the pod's when `podPid`); network and IPC
 * are the guest's, i.e. the pod's, shared by all its containers. /dev/shm is the guest's tmpfs (pod-shared).
 */
export function guestOciSpec(inp: {
  readonly args: string[];
  readonly env: string[];
  readonly cwd: string;
  readonly hostname: string;
  readonly user: ResolvedUser;
  readonly sec: SecurityPlan;
}): OciSpec {
  const { sec, user } = inp;
  return {
    ociVersion: '1.0.2-dev',
    process: ociProcess({ user, sec, args: inp.args, env: inp.env, cwd: inp.cwd }),
    root: { path: '', readonly: sec.readonlyRootfs },
    hostname: inp.hostname,
    mounts: [
      ...defaultMounts({ readonlySysfs: !sec.privileged }),
      { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'nodev', 'noexec'] },
    ],
    linux: {
      namespaces: [{ type: 'mount' }, { type: 'uts' }, { type: 'pid' }],
      resources: { devices: sec.privileged ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }] },
      ...ociLinuxSecurity(sec),
    },
  };
}

/**
 * CRI devices for the guest (after the shared CRI checks of src/host/devices.ts): each node goes by its host
 * name, and the guest gives the container its own kernel's node of that name (guest/oci.ts). Host block devices
 * are refused: a disk of the node cannot be handed to a VM here (no hot-plug of host block devices), and a guest
 * node with the same numbers would be another disk.
 */
export async function guestDeviceRequests(config: cri.ContainerConfig): Promise<GuestDeviceRequest[]> {
  const nodes = await requestedNodes(config.devices);
  return nodes.map(({ source, device, access }) => {
    if (device.type !== 'c') {
      throw new InvalidArgumentError(
        `create container: config.devices: ${source} is a block device, which cannot be passed into a VM sandbox`,
        { context: { field: 'config.devices' } },
      );
    }
    return {
      source,
      path: device.path,
      type: 'c',
      access,
      ...(device.fileMode !== undefined ? { fileMode: device.fileMode } : {}),
      ...(device.uid !== undefined ? { uid: device.uid } : {}),
      ...(device.gid !== undefined ? { gid: device.gid } : {}),
    };
  });
}

export interface VmSize {
  memMiB: number;
  vcpus: number;
}

/** Guest RAM and vCPUs from the pod's resources (sum of limits + overhead, CRI v1.28+) or the defaults. */
export function vmSize(
  config: cri.PodSandboxConfig,
  d: { memoryMiB: number; memoryOverheadMiB: number; maxMemoryMiB: number; vcpus: number; maxVcpus: number },
): VmSize {
  const res = criResourceNumbers(config.linux?.resources, 'linux.resources');
  const over = criResourceNumbers(config.linux?.overhead, 'linux.overhead');
  const limit = res.memoryLimitBytes + over.memoryLimitBytes;
  let memMiB = d.memoryMiB;
  if (limit > 0) memMiB = Math.max(d.memoryMiB, Math.ceil(limit / 1048576) + d.memoryOverheadMiB);
  if (memMiB > d.maxMemoryMiB) {
    throw new InvalidArgumentError(
      `run pod sandbox: linux.resources.memory_limit_in_bytes needs a ${memMiB} MiB VM, above backends.vm.maxMemoryMiB (${d.maxMemoryMiB})`,
    );
  }
  const quota = res.cpuQuota;
  const period = res.cpuPeriod || 100_000;
  const vcpus = quota > 0 ? Math.min(d.maxVcpus, Math.max(d.vcpus, Math.ceil(quota / period))) : d.vcpus;
  return { memMiB, vcpus };
}

/** /etc/hostname, /etc/hosts and /etc/resolv.conf of the pod (the guest cannot see host files; texts: pod-etc.ts). */
export function podFiles(
  sandbox: cri.PodSandboxConfig,
  hostname: string,
  ip: string | undefined,
): ContainerSpec['files'] {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const files = [
    { path: '/etc/hostname', data: b64(`${hostname}\n`) },
    { path: '/etc/hosts', data: b64(hostsFile(hostname, ip ? [ip] : [])) },
  ];
  const resolv = resolvConf(sandbox.dns_config);
  if (resolv !== null) files.push({ path: '/etc/resolv.conf', data: b64(resolv) });
  return files;
}

/**
 * A regular file's bytes, or undefined when what is there now is not one (swapped since the lstat) or grew past
 * `max`. O_NONBLOCK: a FIFO put in its place cannot stall the daemon; O_NOFOLLOW (`noFollow`): nor redirect it.
 */
function readRegular(file: string, noFollow: boolean, max: number): Buffer | undefined {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NONBLOCK | O_NOCTTY | (noFollow ? O_NOFOLLOW : 0));
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > max) return undefined;
    const data = fs.readFileSync(fd);
    return data.length <= max ? data : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** Bound on what mounts may copy into one container (the copy travels base64 over the agent channel). */
const MOUNT_COPY_MAX_BYTES = 4 * 1024 * 1024;

/**
 * CRI mounts as a one-time copy into the rootfs: the guest cannot see host paths (no virtio-fs or 9p here), so small
 * files and directories (hosts, termination-log, config maps, tokens) are copied at create; larger or special
 * sources are skipped and reported. NOTE: later changes on either side are not seen by the other.
 */
export function mountFiles(mounts: cri.ContainerConfig['mounts']): {
  files: NonNullable<ContainerSpec['files']>;
  skipped: string[];
} {
  const files: NonNullable<ContainerSpec['files']> = [];
  const skipped: string[] = [];
  let total = 0;
  // The volume's own path is followed as a bind mount would follow it; inside it nothing is: a symlink a pod
  // wrote into a shared volume must not copy a host file it points to into another pod's VM.
  const add = (host: string, guest: string, top: boolean): void => {
    let st: fs.Stats;
    try {
      st = top ? fs.statSync(host) : fs.lstatSync(host);
    } catch {
      skipped.push(`${host} (missing)`);
      return;
    }
    if (st.isDirectory()) {
      files.push({ path: guest, data: '', mode: st.mode & 0o777, dir: true });
      for (const name of fs.readdirSync(host)) add(path.join(host, name), path.posix.join(guest, name), false);
    } else if (st.isSymbolicLink()) {
      skipped.push(`${host} (a symbolic link: not followed)`);
    } else if (st.isFile() && total + st.size <= MOUNT_COPY_MAX_BYTES) {
      const data = readRegular(host, !top, MOUNT_COPY_MAX_BYTES - total);
      if (!data) {
        skipped.push(`${host} (changed while copied)`);
        return;
      }
      total += data.length;
      files.push({ path: guest, data: data.toString('base64'), mode: st.mode & 0o777 });
    } else {
      skipped.push(`${host} (${st.isFile() ? 'too large' : 'not a regular file'})`);
    }
  };
  for (const m of mounts) if (m.host_path && m.container_path) add(m.host_path, m.container_path, true);
  return { files, skipped };
}
