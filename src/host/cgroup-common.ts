/**
 * What both cgroup implementations (cgroup-v1.ts, cgroup-v2.ts) share: the layer interface, the stats and limits
 * shapes, the CPU rate tracker and small file helpers. Kept apart from cgroup.ts (which picks an implementation)
 * so the implementations do not import their own selector.
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { systemdCgroupDir } from './systemd-cgroup';
import { nowNs } from '../util/clock';

export interface CgroupMemoryStats {
  readonly usageBytes: bigint;
  /** usage minus inactive file pages (what the kernel cannot drop cheaply), as cAdvisor and containerd report. */
  readonly workingSetBytes: bigint;
  readonly rssBytes: bigint;
  readonly pageFaults: bigint;
  readonly majorPageFaults: bigint;
  /** undefined when unlimited */
  readonly limitBytes?: bigint;
}

export interface CgroupStats {
  /** Cumulative CPU time in ns; undefined when the cgroup is gone. */
  readonly cpuUsageNs?: bigint;
  /** When cpuUsageNs was read (by the `now` given to stats(), ../util/clock's by default): what a rate divides by. */
  readonly cpuReadAtNs: bigint;
  readonly memory?: CgroupMemoryStats;
  readonly pids?: number;
  /** Bytes read and written through the block layer (blkio / io.stat), summed over devices. */
  readonly io?: { readonly readBytes: bigint; readonly writeBytes: bigint };
}

/** Limits in CRI/v1 units; each implementation converts to its own files (shares → cpu.weight on v2, …). */
export interface CgroupResources {
  readonly cpuShares?: number;
  /** µs per period; > 0 sets a quota */
  readonly cpuQuota?: number;
  readonly cpuPeriod?: number;
  readonly memoryLimitBytes?: number;
  /** Throttling threshold below the hard limit (v2 memory.high; v1 has no equivalent and ignores it). */
  readonly memoryHighBytes?: number;
  readonly pidsLimit?: number;
  /** CRI page sizes such as "2MB", "1GB" */
  readonly hugepageLimits?: readonly { readonly pageSize: string; readonly limit: number }[];
  /** Proportional block I/O weight, 10..1000 as v1 blkio.weight (converted to v2's 1..10000 io.weight). */
  readonly ioWeight?: number;
}

export interface CgroupLayer {
  readonly version: 1 | 2;
  /** Mount point of the hierarchy (or of the v1 controller mounts). */
  readonly root: string;
  /** The directory of a cgroup; v1 needs the controller (its mount), v2 ignores it. */
  dir(cgroupPath: string, controller?: string): string;
  /** Whether the host can enforce a controller at all (e.g. hugetlb: absent on kernels without it). */
  hasController(controller: string): boolean;
  /** CPU, memory, pids and I/O counters; missing files leave the matching field undefined. */
  /** `now` stamps the CPU counter's reading (the backend's clock; ./clock's by default). */
  stats(cgroupPath: string, now?: () => bigint): Promise<CgroupStats>;
  /** Creates the cgroup (delegating controllers from its ancestors on v2) and writes the limits. */
  apply(cgroupPath: string, resources: CgroupResources): Promise<void>;
  /** Number of OOM kills in the cgroup (v2 memory.events, v1 memory.oom_control); undefined when unreadable. */
  oomKills(cgroupPath: string): Promise<number | undefined>;
  /**
   * Removes a cgroup and its empty children (best effort, idempotent). Returns the directories left behind (busy:
   * still has processes) for logging.
   */
  remove(cgroupPath: string): Promise<string[]>;
}

/** cgroupsPath (cgroupfs or systemd "slice:prefix:name" form) → path below the hierarchy root. */
export function relCgroupPath(cgroupPath: string): string {
  const sd = systemdCgroupDir(cgroupPath);
  return sd ?? path.posix.normalize('/' + cgroupPath);
}

export async function readText(dir: string, file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(path.join(dir, file), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * Reads a cgroup's cumulative CPU time (v1 cpuacct.usage in ns, v2 cpu.stat usage_usec) and stamps the reading in
 * one step. A rate divides by the time between two readings, so the stamp must be the read's, not one taken before
 * an await that a busy event loop may stretch: a sample stamped 300 ms before its read made the next rate a
 * fraction of the truth. A cgroupfs read never waits for a disk, so the synchronous read costs microseconds.
 * `ns` is undefined when the file cannot be read (no such controller, the cgroup is gone).
 */
export function readCpuUsage(
  dir: string | undefined,
  version: 1 | 2,
  now: () => bigint = nowNs,
): { ns?: bigint; atNs: bigint } {
  let text: string | undefined;
  try {
    if (dir !== undefined) text = readFileSync(path.join(dir, version === 1 ? 'cpuacct.usage' : 'cpu.stat'), 'utf8');
  } catch {
    text = undefined;
  }
  const atNs = now();
  if (text === undefined) return { atNs };
  if (version === 2) {
    const usec = parseKeyed(text).get('usage_usec');
    return { ns: usec === undefined ? undefined : usec * 1000n, atNs };
  }
  const t = text.trim();
  return { ns: /^\d+$/.test(t) ? BigInt(t) : undefined, atNs };
}

export async function readBig(dir: string, file: string): Promise<bigint | undefined> {
  const t = await readText(dir, file);
  if (t === undefined || !/^\d+$/.test(t)) return undefined;
  return BigInt(t);
}

/** "key value" lines (memory.stat, cpu.stat, memory.events) → map; non-numeric values are skipped. */
export function parseKeyed(t: string | undefined): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const line of (t ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) m.set(k, BigInt(v));
  }
  return m;
}

export async function readKeyed(dir: string, file: string): Promise<Map<string, bigint> | undefined> {
  const t = await readText(dir, file);
  return t === undefined ? undefined : parseKeyed(t);
}

/** The kernel reports "unlimited" as a page-aligned LONG_MAX (v1) or "max" (v2): anything beyond 2^62 is none. */
export function limitOrUndefined(v: bigint | undefined): bigint | undefined {
  return v !== undefined && v < 1n << 62n ? v : undefined;
}

/** Working set and friends from usage and memory.stat keys (v1 passes "total_", v2 ""). */
export function memoryStatsOf(
  usage: bigint,
  limit: bigint | undefined,
  stat: Map<string, bigint>,
  v2: boolean,
): CgroupMemoryStats {
  const inactive = (v2 ? stat.get('inactive_file') : stat.get('total_inactive_file')) ?? 0n;
  return {
    usageBytes: usage,
    workingSetBytes: usage > inactive ? usage - inactive : 0n,
    rssBytes: (v2 ? stat.get('anon') : stat.get('total_rss')) ?? 0n,
    pageFaults: (v2 ? stat.get('pgfault') : stat.get('total_pgfault')) ?? 0n,
    majorPageFaults: (v2 ? stat.get('pgmajfault') : stat.get('total_pgmajfault')) ?? 0n,
    limitBytes: limitOrUndefined(limit),
  };
}

/** rmdir a cgroup and its child cgroups, deepest first; false when something stayed (busy). ENOENT is success. */
export async function rmdirTree(dir: string): Promise<boolean> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return true; // already gone (or the controller is not mounted)
  }
  let ok = true;
  for (const e of entries) if (e.isDirectory()) ok = (await rmdirTree(path.join(dir, e.name))) && ok;
  try {
    await fs.rmdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') ok = false;
  }
  return ok;
}
