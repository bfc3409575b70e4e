/**
 * Reading container statistics from cgroup v1 (the hierarchy this host has: one mount per controller under
 * /sys/fs/cgroup), and removing cgroups crimux created itself.
 *
 * The numbers follow what cAdvisor and containerd report to the kubelet: CPU as cumulative nanoseconds from
 * cpuacct.usage, memory working set as usage minus total_inactive_file (the page cache the kernel can drop).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

const ROOT = '/sys/fs/cgroup';
/**
 * The v1 hierarchies crimux-managed cgroups are created in (by runc, or by crimux for pod-level parents), plus
 * `unified`: on a hybrid host runc mirrors every cgroup into the (controller-less) cgroup2 mount as well.
 */
export const V1_CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'pids',
  'blkio',
  'devices',
  'freezer',
  'hugetlb',
  'net_cls',
  'net_prio',
  'perf_event',
  'systemd',
  'unified',
] as const;

export interface CgroupV1Stats {
  /** Cumulative CPU time in ns; undefined when the cgroup is gone. */
  readonly cpuUsageNs?: bigint;
  readonly memory?: {
    readonly usageBytes: bigint;
    readonly workingSetBytes: bigint;
    readonly rssBytes: bigint;
    readonly pageFaults: bigint;
    readonly majorPageFaults: bigint;
    /** undefined when unlimited */
    readonly limitBytes?: bigint;
  };
  readonly pids?: number;
}

/** A cgroup's directory for one controller; `cgroupPath` is the OCI cgroupsPath, e.g. /kubepods/pod1/abc. */
export function cgroupV1Dir(controller: string, cgroupPath: string): string {
  return path.join(ROOT, controller, path.posix.normalize('/' + cgroupPath));
}

/** Whether the host uses cgroup v1 controllers (this reader works only there). */
export async function isCgroupV1(): Promise<boolean> {
  try {
    await fs.access(path.join(ROOT, 'memory', 'memory.usage_in_bytes'));
    return true;
  } catch {
    return false;
  }
}

/** Reads CPU and memory statistics; missing files leave the matching field undefined. */
export async function readCgroupV1Stats(cgroupPath: string): Promise<CgroupV1Stats> {
  const [cpu, usage, limit, stat, pids] = await Promise.all([
    readBig(cgroupV1Dir('cpuacct', cgroupPath), 'cpuacct.usage'),
    readBig(cgroupV1Dir('memory', cgroupPath), 'memory.usage_in_bytes'),
    readBig(cgroupV1Dir('memory', cgroupPath), 'memory.limit_in_bytes'),
    readKeyed(cgroupV1Dir('memory', cgroupPath), 'memory.stat'),
    readText(cgroupV1Dir('pids', cgroupPath), 'pids.current'),
  ]);
  let memory: CgroupV1Stats['memory'];
  if (usage !== undefined && stat) {
    const inactive = stat.get('total_inactive_file') ?? 0n;
    // The kernel reports "unlimited" as a page-aligned LONG_MAX; anything beyond 2^62 means no limit.
    const limited = limit !== undefined && limit < 1n << 62n;
    memory = {
      usageBytes: usage,
      workingSetBytes: usage > inactive ? usage - inactive : 0n,
      rssBytes: stat.get('total_rss') ?? 0n,
      pageFaults: stat.get('total_pgfault') ?? 0n,
      majorPageFaults: stat.get('total_pgmajfault') ?? 0n,
      limitBytes: limited ? limit : undefined,
    };
  }
  const pidCount = pids === undefined ? undefined : Number.parseInt(pids, 10);
  return { cpuUsageNs: cpu, memory, pids: Number.isFinite(pidCount) ? pidCount : undefined };
}

/**
 * Turns cumulative CPU time into a rate (nano cores) from two samples. The kubelet polls stats periodically, so
 * the previous call's sample is normally the first one; `rate` returns undefined when there is none yet.
 */
export class CpuRateTracker {
  private readonly last = new Map<string, { atNs: bigint; usageNs: bigint }>();

  rate(key: string, atNs: bigint, usageNs: bigint): bigint | undefined {
    const prev = this.last.get(key);
    this.last.set(key, { atNs, usageNs });
    if (!prev || atNs <= prev.atNs || usageNs < prev.usageNs) return undefined;
    return ((usageNs - prev.usageNs) * 1_000_000_000n) / (atNs - prev.atNs);
  }

  hasSample(key: string): boolean {
    return this.last.has(key);
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}

/**
 * Removes a cgroup (and its empty children) from every v1 controller. Used for pod-level parents crimux created;
 * runc removes the containers' own cgroups. Busy or missing directories are skipped: removal is best effort and
 * idempotent, and the leftovers are listed in the result for logging.
 */
export async function removeCgroupV1(cgroupPath: string): Promise<string[]> {
  const left: string[] = [];
  for (const c of V1_CONTROLLERS) {
    const dir = cgroupV1Dir(c, cgroupPath);
    if (!(await rmdirTree(dir))) left.push(dir);
  }
  return left;
}

/** Creates a cgroup in the given controllers and writes limits into it (file name → value). */
export async function writeCgroupV1(
  controller: string,
  cgroupPath: string,
  values: Record<string, string>,
): Promise<void> {
  const dir = cgroupV1Dir(controller, cgroupPath);
  await fs.mkdir(dir, { recursive: true });
  for (const [file, value] of Object.entries(values)) await fs.writeFile(path.join(dir, file), value);
}

async function rmdirTree(dir: string): Promise<boolean> {
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

async function readText(dir: string, file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(path.join(dir, file), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function readBig(dir: string, file: string): Promise<bigint | undefined> {
  const t = await readText(dir, file);
  if (t === undefined || !/^\d+$/.test(t)) return undefined;
  return BigInt(t);
}

async function readKeyed(dir: string, file: string): Promise<Map<string, bigint> | undefined> {
  const t = await readText(dir, file);
  if (t === undefined) return undefined;
  const m = new Map<string, bigint>();
  for (const line of t.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v && /^\d+$/.test(v)) m.set(k, BigInt(v));
  }
  return m;
}
