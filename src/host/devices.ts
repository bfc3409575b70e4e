/**
 * Devices for containers: CRI Device entries (and every host device for privileged containers) turned into OCI
 * linux.devices plus the matching device-cgroup allow rules, as containerd's WithDevices/WithPrivilegedDevices.
 * One place for the CRI rules (paths, permissions, directories): the runc backend uses the host's device numbers,
 * the vm backend sends the node names into its guest, whose kernel has its own numbers (vm/spec.ts).
 */
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import type * as cri from '../cri/types';
import { InvalidArgumentError } from '../errors';
import type { OciDevice, OciDeviceCgroup } from './oci-spec';

export interface DeviceSet {
  readonly devices: OciDevice[];
  readonly rules: OciDeviceCgroup[];
}

function majorOf(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function minorOf(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & ~0xff & 0xfffff);
}

function deviceOf(st: Stats, containerPath: string): OciDevice | null {
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : null;
  if (!type) return null;
  return {
    type,
    path: containerPath,
    major: majorOf(st.rdev),
    minor: minorOf(st.rdev),
    fileMode: st.mode & 0o777,
    uid: st.uid,
    gid: st.gid,
  };
}

/** One device node a CRI Device entry names: where it is on the host, where it goes, and the access asked. */
export interface RequestedNode {
  /** The node on the host (a CRI host_path, or a node below a host_path directory). */
  readonly source: string;
  /** The node as the container sees it, with the host's numbers, mode and owner. */
  readonly device: OciDevice;
  /** The device-cgroup access: a subset of "rwm". */
  readonly access: string;
}

/**
 * Validates the CRI Device entries and finds the nodes they name on the host; a host path that is a directory
 * contributes every device below it. Paths must be absolute, permissions a subset of "rwm".
 */
export async function requestedNodes(
  devs: readonly cri.ContainerConfig['devices'][number][],
): Promise<RequestedNode[]> {
  const out: RequestedNode[] = [];
  for (const [i, d] of devs.entries()) {
    const field = `config.devices[${i}]`;
    if (!path.isAbsolute(d.host_path))
      throw new InvalidArgumentError(`create container: ${field}.host_path: must be an absolute path`);
    const target = d.container_path || d.host_path;
    if (!path.isAbsolute(target))
      throw new InvalidArgumentError(`create container: ${field}.container_path: must be an absolute path`);
    const access = d.permissions || 'rwm';
    if (!/^[rwm]{1,3}$/.test(access))
      throw new InvalidArgumentError(`create container: ${field}.permissions: "${access}" is not a subset of rwm`);
    let st: Stats;
    try {
      st = await fs.stat(d.host_path);
    } catch {
      throw new InvalidArgumentError(`create container: ${field}.host_path: ${d.host_path} does not exist`);
    }
    if (st.isDirectory()) {
      for (const dev of await walkDevices(d.host_path)) {
        const device = { ...dev, path: path.join(target, path.relative(d.host_path, dev.path)) };
        out.push({ source: dev.path, device, access });
      }
    } else {
      const dev = deviceOf(st, target);
      if (!dev) throw new InvalidArgumentError(`create container: ${field}.host_path: ${d.host_path} is not a device`);
      out.push({ source: d.host_path, device: dev, access });
    }
  }
  return out;
}

/** Devices requested by the CRI config as OCI linux.devices with the host's numbers, and their cgroup rules. */
export async function requestedDevices(devs: readonly cri.ContainerConfig['devices'][number][]): Promise<DeviceSet> {
  const out: DeviceSet = { devices: [], rules: [] };
  for (const { device: dev, access } of await requestedNodes(devs)) {
    out.devices.push(dev);
    out.rules.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access });
  }
  return out;
}

/** Every device node of the host's /dev (privileged containers), skipping pty slaves and the console. */
export async function hostDevices(): Promise<OciDevice[]> {
  return (await walkDevices('/dev')).filter((d) => !d.path.startsWith('/dev/pts/') && d.path !== '/dev/console');
}

async function walkDevices(dir: string, depth = 0): Promise<OciDevice[]> {
  if (depth > 4) return [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: OciDevice[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (['pts', 'shm', 'mqueue', 'fd'].includes(e.name) && dir === '/dev') continue;
      out.push(...(await walkDevices(p, depth + 1)));
    } else if (e.isCharacterDevice() || e.isBlockDevice()) {
      const st = await fs.stat(p).catch(() => null);
      const dev = st && deviceOf(st, p);
      if (dev) out.push(dev);
    }
  }
  return out;
}
