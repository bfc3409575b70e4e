/**
 * ContainerStats and PodSandboxStats from the host's cgroups (src/host/cgroup.ts, v1 or v2): CPU as cumulative ns and as a rate
 * (nano cores, from this sample and the previous one; the first call of a container takes two samples 100 ms
 * apart), memory working set / usage / RSS / page faults, the writable layer from the snapshot store, and for
 * pods the network counters of the pod's netns (read through /proc/<pause pid>/net/dev, no namespace switch).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { CallContext } from '../backend';
import type * as cri from '../../cri/types';
import { NotFoundError } from '../../errors';
import type { CgroupStats } from '../../host/cgroup';
import { sleep } from '../../host/wait';
import type { RuncShared } from './context';
import { mustRecord } from './containers';

const u64 = (v: bigint | number | undefined): { value: string } | null =>
  v === undefined ? null : { value: v.toString() };

async function sample(
  s: RuncShared,
  key: string,
  cgroup: string,
): Promise<{ st: CgroupStats; at: bigint; rate?: bigint }> {
  let at = s.host.clock.nowNs();
  let st = await s.cgroups.stats(cgroup);
  if (st.cpuUsageNs === undefined) return { st, at };
  if (!s.cpu.hasSample(key)) {
    s.cpu.rate(key, at, st.cpuUsageNs);
    await sleep(100);
    at = s.host.clock.nowNs();
    st = await s.cgroups.stats(cgroup);
    if (st.cpuUsageNs === undefined) return { st, at };
  }
  return { st, at, rate: s.cpu.rate(key, at, st.cpuUsageNs) };
}

function cpuOf(at: bigint, st: CgroupStats, rate: bigint | undefined): cri.ContainerStats['cpu'] {
  return { timestamp: at.toString(), usage_core_nano_seconds: u64(st.cpuUsageNs), usage_nano_cores: u64(rate ?? 0n) };
}

function memoryOf(at: bigint, st: CgroupStats): cri.ContainerStats['memory'] {
  const m = st.memory;
  if (!m) return { timestamp: at.toString() };
  const available =
    m.limitBytes !== undefined && m.limitBytes > m.workingSetBytes ? m.limitBytes - m.workingSetBytes : undefined;
  return {
    timestamp: at.toString(),
    working_set_bytes: u64(m.workingSetBytes),
    usage_bytes: u64(m.usageBytes),
    rss_bytes: u64(m.rssBytes),
    page_faults: u64(m.pageFaults),
    major_page_faults: u64(m.majorPageFaults),
    ...(available !== undefined ? { available_bytes: u64(available) } : {}),
  };
}

export async function containerStats(s: RuncShared, _ctx: CallContext, id: string): Promise<cri.ContainerStats> {
  const rec = mustRecord(s, id);
  const { st, at, rate } = await sample(s, id, rec.cgroupsPath);
  const usage = await s.images.usage(id).catch(() => ({ bytes: 0, inodes: 0 }));
  return {
    attributes: { id, metadata: rec.metadata, labels: rec.labels, annotations: rec.annotations },
    cpu: cpuOf(at, st, rate),
    memory: memoryOf(at, st),
    writable_layer: {
      timestamp: at.toString(),
      fs_id: { mountpoint: path.join(s.config.stateDir, 'images') },
      used_bytes: u64(usage.bytes),
      inodes_used: u64(usage.inodes),
    },
  };
}

export async function listContainerStats(s: RuncShared, ctx: CallContext): Promise<cri.ContainerStats[]> {
  const recs = s.records.allContainers().filter((r) => r.startedAt !== undefined);
  const all = await Promise.allSettled(recs.map((r) => containerStats(s, ctx, r.id)));
  return all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}

/** Interface counters of a process's network namespace, loopback excluded. */
async function netDev(pid: number): Promise<{ name: string; rx: bigint; rxErr: bigint; tx: bigint; txErr: bigint }[]> {
  let text: string;
  try {
    text = await fs.readFile(`/proc/${pid}/net/dev`, 'utf8');
  } catch {
    return [];
  }
  const out = [];
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2]!
      .trim()
      .split(/\s+/)
      .map((x) => BigInt(x));
    out.push({ name: m[1]!, rx: f[0] ?? 0n, rxErr: f[2] ?? 0n, tx: f[8] ?? 0n, txErr: f[10] ?? 0n });
  }
  return out;
}

export async function podSandboxStats(s: RuncShared, ctx: CallContext, id: string): Promise<cri.PodSandboxStats> {
  const rec = s.records.sandbox(id);
  if (!rec) throw new NotFoundError(`find pod sandbox ${id}: not found`, { context: { sandbox: id } });
  const { st, at, rate } = await sample(s, id, rec.cgroupParent);
  const live = await s.engine.state(rec.handler, id, s.layout.pauseDir(id));
  const ifaces = live.kind === 'running' && !rec.hostNetwork ? await netDev(live.pid) : [];
  const usage = ifaces.map((i) => ({
    name: i.name,
    rx_bytes: u64(i.rx),
    rx_errors: u64(i.rxErr),
    tx_bytes: u64(i.tx),
    tx_errors: u64(i.txErr),
  }));
  const containers = await Promise.allSettled(
    s.records
      .containersOf(id)
      .filter((c) => c.startedAt !== undefined)
      .map((c) => containerStats(s, ctx, c.id)),
  );
  return {
    attributes: { id, metadata: rec.metadata, labels: rec.labels, annotations: rec.annotations },
    linux: {
      cpu: cpuOf(at, st, rate),
      memory: memoryOf(at, st),
      network: {
        timestamp: at.toString(),
        default_interface: usage.find((u) => u.name === 'eth0') ?? usage[0] ?? null,
        interfaces: usage,
      },
      process: { timestamp: at.toString(), process_count: u64(st.pids) },
      containers: containers.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    },
  };
}

export async function listPodSandboxStats(s: RuncShared, ctx: CallContext): Promise<cri.PodSandboxStats[]> {
  const all = await Promise.allSettled(s.records.allSandboxes().map((r) => podSandboxStats(s, ctx, r.id)));
  return all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}
