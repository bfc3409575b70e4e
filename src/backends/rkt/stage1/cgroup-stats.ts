/**
 * CPU, memory and process counts of a stage1 cgroup (an app's or a pod's), from whichever hierarchies the host
 * has: cgroup v1 cpuacct/memory/pids (this host), or the v2 files. Numbers follow cAdvisor: working set = usage
 * minus inactive file pages. Paths differ per hierarchy (a CgroupSet), hence not src/host's single-path reader.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { controllerDir, type CgroupSet, type Hierarchy } from './cgroups';
import { memoryStatsOf, parseKeyed, readCpuUsage, type CgroupMemoryStats } from '../../../host/cgroup-common';

export interface CgroupStats {
  readonly cpuUsageNs?: bigint;
  /** When cpuUsageNs was read: what a CPU rate divides by (see readCpuUsage). */
  readonly cpuReadAtNs: bigint;
  readonly memory?: CgroupMemoryStats;
  readonly pids?: number;
}

async function text(dir: string | undefined, file: string): Promise<string | undefined> {
  if (!dir) return undefined;
  return fs.readFile(path.join(dir, file), 'utf8').then(
    (t) => t.trim(),
    () => undefined,
  );
}

function big(s: string | undefined): bigint | undefined {
  return s !== undefined && /^\d+$/.test(s) ? BigInt(s) : undefined;
}

const keyed = parseKeyed;

export async function readCgroupStats(
  hs: readonly Hierarchy[],
  set: CgroupSet,
  now?: () => bigint,
): Promise<CgroupStats> {
  const memDir = controllerDir(hs, set, 'memory');
  const v2 = controllerDir(hs, set, 'v2');
  const v1cpu = readCpuUsage(controllerDir(hs, set, 'cpuacct'), 1, now);
  // v2's counter when v1's cannot be read (no cpuacct hierarchy, or the cgroup is gone from it).
  const cpu = v1cpu.ns !== undefined ? v1cpu : readCpuUsage(v2, 2, now);
  let memory: CgroupStats['memory'];
  if (memDir) {
    const usage = big(await text(memDir, 'memory.usage_in_bytes'));
    const limit = big(await text(memDir, 'memory.limit_in_bytes'));
    const st = keyed(await text(memDir, 'memory.stat'));
    if (usage !== undefined) memory = memoryOf(usage, limit, st, 'total_');
  } else if (v2) {
    const usage = big(await text(v2, 'memory.current'));
    const max = await text(v2, 'memory.max');
    if (usage !== undefined) memory = memoryOf(usage, big(max), keyed(await text(v2, 'memory.stat')), '');
  }
  const pids = await text(controllerDir(hs, set, 'pids') ?? v2, 'pids.current');
  return {
    cpuUsageNs: cpu.ns,
    cpuReadAtNs: cpu.atNs,
    memory,
    pids: pids !== undefined && /^\d+$/.test(pids) ? Number(pids) : undefined,
  };
}

/** Working set etc. as the host cgroup layer computes them (v1 "total_" keys, v2 plain ones). */
function memoryOf(
  usage: bigint,
  limit: bigint | undefined,
  st: Map<string, bigint>,
  prefix: string,
): CgroupStats['memory'] {
  return memoryStatsOf(usage, limit, st, prefix === '');
}
