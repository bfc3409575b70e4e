/**
 * The cgroup v1 implementation of the host cgroup layer (cgroup.ts): one mount per controller under the root
 * (/sys/fs/cgroup/<controller>), the hierarchy this development host has.
 *
 * The numbers follow what cAdvisor and containerd report to the kubelet: CPU as cumulative nanoseconds from
 * cpuacct.usage, memory working set as usage minus total_inactive_file (the page cache the kernel can drop).
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  memoryStatsOf,
  parseKeyed,
  readBig,
  readCpuUsage,
  readKeyed,
  readText,
  relCgroupPath,
  rmdirTree,
  type CgroupLayer,
  type CgroupResources,
  type CgroupStats,
} from './cgroup-common';

// Kept for importers of the tracker from its old home.

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

export class CgroupV1 implements CgroupLayer {
  readonly version = 1 as const;

  constructor(readonly root: string) {}

  dir(cgroupPath: string, controller = 'memory'): string {
    return path.join(this.root, controller, relCgroupPath(cgroupPath));
  }

  hasController(controller: string): boolean {
    return existsSync(path.join(this.root, controller));
  }

  async stats(cgroupPath: string, now?: () => bigint): Promise<CgroupStats> {
    const mem = this.dir(cgroupPath, 'memory');
    const cpu = readCpuUsage(this.dir(cgroupPath, 'cpuacct'), 1, now);
    const [usage, limit, stat, pids, blkio] = await Promise.all([
      readBig(mem, 'memory.usage_in_bytes'),
      readBig(mem, 'memory.limit_in_bytes'),
      readKeyed(mem, 'memory.stat'),
      readText(this.dir(cgroupPath, 'pids'), 'pids.current'),
      readText(this.dir(cgroupPath, 'blkio'), 'blkio.throttle.io_service_bytes_recursive'),
    ]);
    const pidCount = pids === undefined ? undefined : Number.parseInt(pids, 10);
    return {
      cpuUsageNs: cpu.ns,
      cpuReadAtNs: cpu.atNs,
      memory: usage !== undefined && stat ? memoryStatsOf(usage, limit, stat, false) : undefined,
      pids: Number.isFinite(pidCount) ? pidCount : undefined,
      io: blkio === undefined ? undefined : parseBlkio(blkio),
    };
  }

  async apply(cgroupPath: string, r: CgroupResources): Promise<void> {
    const cpu: Record<string, string> = {};
    if (r.cpuShares !== undefined) cpu['cpu.shares'] = String(r.cpuShares);
    if (r.cpuQuota !== undefined && r.cpuQuota > 0) {
      cpu['cpu.cfs_period_us'] = String(r.cpuPeriod || 100_000);
      cpu['cpu.cfs_quota_us'] = String(r.cpuQuota);
    }
    await this.write('cpu', cgroupPath, cpu);
    if (r.memoryLimitBytes !== undefined && r.memoryLimitBytes > 0) {
      await this.write('memory', cgroupPath, { 'memory.limit_in_bytes': String(r.memoryLimitBytes) });
    }
    if (r.pidsLimit !== undefined && r.pidsLimit > 0) {
      await this.write('pids', cgroupPath, { 'pids.max': String(r.pidsLimit) });
    }
    const huge: Record<string, string> = {};
    for (const h of r.hugepageLimits ?? []) huge[`hugetlb.${h.pageSize}.limit_in_bytes`] = String(h.limit);
    if (this.hasController('hugetlb')) await this.write('hugetlb', cgroupPath, huge);
    if (r.ioWeight !== undefined && r.ioWeight > 0) {
      await this.write('blkio', cgroupPath, { 'blkio.weight': String(r.ioWeight) });
    }
  }

  async oomKills(cgroupPath: string): Promise<number | undefined> {
    const t = await readText(this.dir(cgroupPath, 'memory'), 'memory.oom_control');
    const n = parseKeyed(t).get('oom_kill');
    return n === undefined ? undefined : Number(n);
  }

  async remove(cgroupPath: string): Promise<string[]> {
    const left: string[] = [];
    for (const c of V1_CONTROLLERS) {
      const dir = this.dir(cgroupPath, c);
      if (!(await rmdirTree(dir))) left.push(dir);
    }
    return left;
  }

  /** Creates the cgroup in one controller and writes the files (nothing when there is nothing to write). */
  private async write(controller: string, cgroupPath: string, values: Record<string, string>): Promise<void> {
    if (Object.keys(values).length === 0) return;
    const dir = this.dir(cgroupPath, controller);
    await fs.mkdir(dir, { recursive: true });
    for (const [file, value] of Object.entries(values)) await fs.writeFile(path.join(dir, file), value);
  }
}

/** blkio.throttle.io_service_bytes_recursive: "<maj:min> Read|Write|… <n>" lines (Total lines skipped). */
function parseBlkio(t: string): { readBytes: bigint; writeBytes: bigint } {
  let readBytes = 0n;
  let writeBytes = 0n;
  for (const line of t.split('\n')) {
    const [dev, op, v] = line.trim().split(/\s+/);
    if (!dev || !v || !/^\d+$/.test(v) || !dev.includes(':')) continue;
    if (op === 'Read') readBytes += BigInt(v);
    else if (op === 'Write') writeBytes += BigInt(v);
  }
  return { readBytes, writeBytes };
}

/** Removes a cgroup from every v1 controller under /sys/fs/cgroup (test and bench cleanup on v1 hosts). */
export function removeCgroupV1(cgroupPath: string): Promise<string[]> {
  return new CgroupV1('/sys/fs/cgroup').remove(cgroupPath);
}
