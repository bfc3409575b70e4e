/**
 * Defaults every Linux-container runtime in crimux applies, matching containerd's CRI plugin so that pods behave
 * the same whichever CRI runtime a cluster used before: the capability set, masked and read-only /proc and /sys
 * paths, the standard mounts, the PATH when the image sets none, and the RLIMIT defaults.
 */
import { readFileSync } from 'node:fs';
import type { OciMount } from './oci-spec';

/** The capability set containers get unless the CRI request adds or drops (containerd's oci.DefaultCapabilities). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability the kernel knows, as of Linux 5.9+, in bit order (index = capability number). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/**
 * The capabilities "ALL" and privileged containers get: those in this process's bounding set, as containerd does
 * (a runtime cannot grant what it does not hold — this host's bounding set lacks CAP_SYS_RESOURCE, for one).
 */
export function availableCapabilities(): string[] {
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!m?.[1]) return [...ALL_CAPABILITIES];
    const mask = BigInt('0x' + m[1]);
    return ALL_CAPABILITIES.filter((_c, bit) => (mask >> BigInt(bit)) & 1n);
  } catch {
    return [...ALL_CAPABILITIES];
  }
}

/** Paths hidden from unprivileged containers (containerd's defaultMaskedPaths). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/proc/scsi',
];

/** Paths made read-only in unprivileged containers (containerd's defaultReadonlyPaths). */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** PATH for containers whose image sets none (containerd's defaultUnixEnv). */
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The standard mounts of a Linux container; /dev/shm is replaced by the pod's shared tmpfs where there is one. */
export function defaultMounts(opts: { readonly readonlySysfs: boolean }): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', opts.readonlySysfs ? 'ro' : 'rw'],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', opts.readonlySysfs ? 'ro' : 'rw'],
    },
  ];
}

/** Normalises "chown", "CHOWN" and "CAP_CHOWN" to "CAP_CHOWN"; "ALL" stays "ALL". */
export function normaliseCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/**
 * The effective capability list from the defaults plus CRI add/drop, the way containerd computes it: "ALL" in add
 * grants everything, "ALL" in drop starts from nothing, then explicit adds apply, then explicit drops (so
 * add [ALL] + drop [CHOWN] is everything but CHOWN, and drop [ALL] + add [NET_ADMIN] is just NET_ADMIN).
 */
export function computeCapabilities(add: readonly string[], drop: readonly string[]): string[] {
  const adds = add.map(normaliseCapability);
  const drops = drop.map(normaliseCapability);
  let caps = adds.includes('ALL') ? availableCapabilities() : [...DEFAULT_CAPABILITIES];
  if (drops.includes('ALL')) caps = [];
  for (const c of adds) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  return caps.filter((c) => !drops.includes(c));
}
