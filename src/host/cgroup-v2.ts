/**
 * The cgroup v2 (unified hierarchy) implementation of the host cgroup layer (cgroup.ts). One tree under the root;
 * a controller works in a cgroup only when every ancestor lists it in cgroup.subtree_control, so `apply` delegates
 * the controllers it needs down the path first (what runc and systemd do for the cgroups they create).
 *
 * Files (kernel Documentation/admin-guide/cgroup-v2.rst):
 *   cpu.stat usage_usec · cpu.max "<quota|max> <period>" · cpu.weight 1..10000 · memory.current · memory.max ·
 *   memory.high · memory.stat (anon, inactive_file, pgfault, pgmajfault) · memory.events oom_kill · pids.current ·
 *   pids.max · hugetlb.<size>.max · io.weight "default <n>" · io.stat "<maj:min> rbytes=… wbytes=…".
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  memoryStatsOf,
  parseKeyed,
  readCpuUsage,
  readKeyed,
  readText,
  relCgroupPath,
  rmdirTree,
  type CgroupLayer,
  type CgroupResources,
  type CgroupStats,
} from './cgroup-common';

/** runc's conversion of v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000). */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 0;
  return 1 + Math.floor(((Math.min(Math.max(shares, 2), 262144) - 2) * 9999) / 262142); // Go integer division
}

/** blkio.weight (10..1000) → io.weight (1..10000), as runc's ConvertBlkIOToIOWeightValue. */
export function blkioToIoWeight(weight: number): number {
  if (weight <= 0) return 0;
  return 1 + Math.floor(((Math.min(Math.max(weight, 10), 1000) - 10) * 9999) / 990);
}

/** io.stat → total read and written bytes over all devices. */
export function parseIoStat(t: string): { readBytes: bigint; writeBytes: bigint } {
  let readBytes = 0n;
  let writeBytes = 0n;
  for (const line of t.split('\n')) {
    for (const kv of line.trim().split(/\s+/).slice(1)) {
      const [k, v] = kv.split('=');
      if (!v || !/^\d+$/.test(v)) continue;
      if (k === 'rbytes') readBytes += BigInt(v);
      else if (k === 'wbytes') writeBytes += BigInt(v);
    }
  }
  return { readBytes, writeBytes };
}

export class CgroupV2 implements CgroupLayer {
  readonly version = 2 as const;

  constructor(readonly root: string) {}

  dir(cgroupPath: string): string {
    return path.join(this.root, relCgroupPath(cgroupPath));
  }

  hasController(controller: string): boolean {
    try {
      return readFileSync(path.join(this.root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).includes(controller);
    } catch {
      return false;
    }
  }

  async stats(cgroupPath: string, now?: () => bigint): Promise<CgroupStats> {
    const dir = this.dir(cgroupPath);
    const cpu = readCpuUsage(dir, 2, now);
    const [current, max, stat, pids, io] = await Promise.all([
      readText(dir, 'memory.current'),
      readText(dir, 'memory.max'),
      readKeyed(dir, 'memory.stat'),
      readText(dir, 'pids.current'),
      readText(dir, 'io.stat'),
    ]);
    const usage = current !== undefined && /^\d+$/.test(current) ? BigInt(current) : undefined;
    const limit = max !== undefined && /^\d+$/.test(max) ? BigInt(max) : undefined;
    const pidCount = pids === undefined ? undefined : Number.parseInt(pids, 10);
    return {
      cpuUsageNs: cpu.ns,
      cpuReadAtNs: cpu.atNs,
      memory: usage !== undefined ? memoryStatsOf(usage, limit, stat ?? new Map(), true) : undefined,
      pids: Number.isFinite(pidCount) ? pidCount : undefined,
      io: io === undefined ? undefined : parseIoStat(io),
    };
  }

  async apply(cgroupPath: string, r: CgroupResources): Promise<void> {
    const files: [string, string, string][] = []; // controller, file, value
    if (r.cpuShares !== undefined && r.cpuShares > 0)
      files.push(['cpu', 'cpu.weight', String(sharesToWeight(r.cpuShares))]);
    if (r.cpuQuota !== undefined && r.cpuQuota > 0) {
      files.push(['cpu', 'cpu.max', `${r.cpuQuota} ${r.cpuPeriod || 100_000}`]);
    }
    if (r.memoryLimitBytes !== undefined && r.memoryLimitBytes > 0) {
      files.push(['memory', 'memory.max', String(r.memoryLimitBytes)]);
    }
    if (r.memoryHighBytes !== undefined && r.memoryHighBytes > 0) {
      files.push(['memory', 'memory.high', String(r.memoryHighBytes)]);
    }
    if (r.pidsLimit !== undefined && r.pidsLimit > 0) files.push(['pids', 'pids.max', String(r.pidsLimit)]);
    if (this.hasController('hugetlb')) {
      for (const h of r.hugepageLimits ?? []) files.push(['hugetlb', `hugetlb.${h.pageSize}.max`, String(h.limit)]);
    }
    if (r.ioWeight !== undefined && r.ioWeight > 0) {
      files.push(['io', 'io.weight', `default ${blkioToIoWeight(r.ioWeight)}`]);
    }
    const dir = this.dir(cgroupPath);
    await this.delegate(relCgroupPath(cgroupPath), [...new Set(files.map((f) => f[0]))]);
    await fs.mkdir(dir, { recursive: true });
    for (const [, file, value] of files) await fs.writeFile(path.join(dir, file), value);
  }

  async oomKills(cgroupPath: string): Promise<number | undefined> {
    const n = parseKeyed(await readText(this.dir(cgroupPath), 'memory.events')).get('oom_kill');
    return n === undefined ? undefined : Number(n);
  }

  async remove(cgroupPath: string): Promise<string[]> {
    const dir = this.dir(cgroupPath);
    return (await rmdirTree(dir)) ? [] : [dir];
  }

  /**
   * Enables the controllers in cgroup.subtree_control of every ancestor of `rel` (root included), creating the
   * ancestors as needed. Controllers the root does not offer are skipped: the limit then fails at the write,
   * loudly, instead of being silently dropped here.
   */
  private async delegate(rel: string, controllers: string[]): Promise<void> {
    const want = controllers.filter((c) => this.hasController(c));
    if (want.length === 0) return;
    const parts = rel.split('/').filter(Boolean);
    let dir = this.root;
    for (let i = 0; i < parts.length; i++) {
      const enabled = ((await readText(dir, 'cgroup.subtree_control')) ?? '')
        .split(/\s+/)
        .map((x) => x.replace(/^\+/, '')); // a fake tree keeps what was written
      // One controller per write: the kernel rejects a whole write when one item fails, and a failure here
      // (e.g. a busy cgroup with processes of its own) surfaces at the limit write below instead.
      for (const c of want.filter((x) => !enabled.includes(x))) {
        await fs.appendFile(path.join(dir, 'cgroup.subtree_control'), `+${c}\n`).catch(() => undefined);
      }
      dir = path.join(dir, parts[i] ?? '');
      await fs.mkdir(dir, { recursive: true });
    }
  }
}
