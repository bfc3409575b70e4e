/**
 * CPU, memory and process counts of a stage1 cgroup (an app's or a pod's), from whichever hierarchies the host
 * has: cgroup v1 cpuacct/memory/pids (this host), or the v2 files. Numbers follow cAdvisor: working set = usage
 * minus inactive file pages. Paths differ per hierarchy (a CgroupSet), hence not src/host's single-path reader.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { controllerDir, type CgroupSet, type Hierarchy } from './cgroups';

export interface CgroupStats {
  readonly cpuUsageNs?: bigint;
  readonly memory?: {
    readonly usageBytes: bigint;
    readonly workingSetBytes: bigint;
    readonly rssBytes: bigint;
    readonly pageFaults: bigint;
    readonly majorPageFaults: bigint;
    readonly limitBytes?: bigint;
  };
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

function keyed(s: string | undefined): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const line of (s ?? '').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v && /^\d+$/.test(v)) m.set(k, BigInt(v));
  }
  return m;
}

export async function readCgroupStats(hs: readonly Hierarchy[], set: CgroupSet): Promise<CgroupStats> {
  const memDir = controllerDir(hs, set, 'memory');
  const v2 = controllerDir(hs, set, 'v2');
  const cpuV1 = big(await text(controllerDir(hs, set, 'cpuacct'), 'cpuacct.usage'));
  const cpuV2 = keyed(await text(v2, 'cpu.stat')).get('usage_usec');
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
    cpuUsageNs: cpuV1 ?? (cpuV2 !== undefined ? cpuV2 * 1000n : undefined),
    memory,
    pids: pids !== undefined && /^\d+$/.test(pids) ? Number(pids) : undefined,
  };
}

function memoryOf(
  usage: bigint,
  limit: bigint | undefined,
  st: Map<string, bigint>,
  prefix: string,
): CgroupStats['memory'] {
  const inactive = st.get(`${prefix}inactive_file`) ?? 0n;
  return {
    usageBytes: usage,
    workingSetBytes: usage > inactive ? usage - inactive : 0n,
    rssBytes: st.get(`${prefix}rss`) ?? st.get('anon') ?? 0n,
    pageFaults: st.get(`${prefix}pgfault`) ?? st.get('pgfault') ?? 0n,
    majorPageFaults: st.get(`${prefix}pgmajfault`) ?? st.get('pgmajfault') ?? 0n,
    // "Unlimited" is a page-aligned LONG_MAX on v1 and "max" on v2.
    limitBytes: limit !== undefined && limit < 1n << 62n ? limit : undefined,
  };
}
