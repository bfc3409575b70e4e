/**
 * The host cgroup layer: one interface, two implementations — cgroup v1 (one mount per controller under
 * /sys/fs/cgroup, this development host) and cgroup v2 (the unified hierarchy of Debian 12, Ubuntu 22.04+, RHEL 9).
 * Which one is chosen once, at start-up, from what the host mounts at /sys/fs/cgroup: a cgroup2 filesystem means
 * unified, anything else (the tmpfs holding the v1 controller mounts) means v1 — the test runc and systemd use too.
 *
 * Paths given to the layer are OCI cgroupsPath values: either cgroupfs paths (/kubepods/pod1/abc) or the systemd
 * driver's "slice:prefix:name" form (kubepods-pod1.slice:crimux:abc), which name the same directories systemd
 * creates (src/host/systemd-cgroup.ts expands them). Every implementation takes its root as a parameter, so tests
 * run against a fake tree in a temporary directory.
 */
import { statfsSync } from 'node:fs';
import { CgroupV1 } from './cgroup-v1';
import { CgroupV2 } from './cgroup-v2';
import type { CgroupLayer } from './cgroup-common';

export type { CgroupLayer, CgroupResources, CgroupStats, CgroupMemoryStats } from './cgroup-common';

export const CGROUP_ROOT = '/sys/fs/cgroup';
/** statfs f_type of a cgroup2 mount (linux/magic.h CGROUP2_SUPER_MAGIC). */
export const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Which implementation a filesystem type selects (statfs f_type of /sys/fs/cgroup). */
export function cgroupVersionOfMagic(fsType: number | bigint): 1 | 2 {
  return Number(fsType) === CGROUP2_SUPER_MAGIC ? 2 : 1;
}

/** The cgroup version the host mounts at `root`. */
export function detectCgroupVersion(root = CGROUP_ROOT): 1 | 2 {
  try {
    return cgroupVersionOfMagic(statfsSync(root).type);
  } catch {
    return 1; // nothing mounted there (a build box): v1 code paths only read files and fail softly
  }
}

/** The layer for a given root and version (tests pass a temp dir); `version` defaults to what `root` mounts. */
export function openCgroupLayer(root = CGROUP_ROOT, version: 1 | 2 = detectCgroupVersion(root)): CgroupLayer {
  return version === 2 ? new CgroupV2(root) : new CgroupV1(root);
}

let host: CgroupLayer | undefined;
/** The host's layer, detected on first use (at backend start-up) and then fixed for the process lifetime. */
export function hostCgroups(): CgroupLayer {
  host ??= openCgroupLayer();
  return host;
}
