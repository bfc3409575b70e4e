/**
 * The one place where usage samples (ContainerUsage, SandboxUsage: what a backend measured) become CRI stats.
 * Attributes come from crimux's own records, so every backend reports them alike; usage_nano_cores comes from this
 * sample and the previous one of the same container or pod (CpuRates, one tracker for all backends);
 * available_bytes is limit − working set, as cAdvisor computes it, unless the runtime knows better (a VM guest).
 */
import type { ContainerUsage, MemoryUsage, Quantity, SandboxUsage } from '../backends/backend';
import type * as cri from '../cri/types';
import type { ContainerRecord, SandboxRecord } from '../state/types';

type U64 = { value: string } | null;

function big(v: Quantity | undefined): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'bigint') return v < 0n ? undefined : v;
  return Number.isFinite(v) && v >= 0 ? BigInt(Math.round(v)) : undefined;
}

function u64(v: Quantity | undefined): U64 {
  const b = big(v);
  return b === undefined ? null : { value: b.toString() };
}

/** cgroup v1 says "no limit" with a page-rounded 2^63 − 1, Docker passes that on: anything above 2^62 is none. */
const NO_LIMIT = 1n << 62n;

function memoryOf(ts: string, m: MemoryUsage | undefined): cri.ContainerStats['memory'] {
  if (!m) return { timestamp: ts };
  const ws = big(m.workingSetBytes);
  const limit = big(m.limitBytes);
  const derived =
    limit !== undefined && ws !== undefined && limit < NO_LIMIT ? (limit > ws ? limit - ws : 0n) : undefined;
  return {
    timestamp: ts,
    working_set_bytes: u64(ws),
    usage_bytes: u64(m.usageBytes),
    available_bytes: u64(m.availableBytes ?? derived),
    rss_bytes: u64(m.rssBytes),
    page_faults: u64(m.pageFaults),
    major_page_faults: u64(m.majorPageFaults),
  };
}

function cpuOf(ts: string, cpuNs: Quantity | undefined, rate: bigint | undefined): cri.ContainerStats['cpu'] {
  return { timestamp: ts, usage_core_nano_seconds: u64(cpuNs), usage_nano_cores: u64(rate) };
}

/**
 * CPU rates (nano cores) from consecutive samples, keyed "c:<id>" / "p:<id>". A sample seen again (a list kept
 * for the housekeeping interval) gives the rate it gave before; an older sample than the last one changes nothing.
 * Keys not sampled for STALE_MS are dropped, so removed containers do not pile up.
 */
export class CpuRates {
  private static readonly STALE_MS = 10 * 60_000;
  private readonly last = new Map<string, { atNs: bigint; cpuNs: bigint; rate?: bigint; seenMs: number }>();
  private prunedMs = Date.now();

  has(key: string): boolean {
    return this.last.has(key);
  }

  rate(key: string, atNs: bigint, cpu: Quantity | undefined): bigint | undefined {
    const cpuNs = big(cpu);
    if (cpuNs === undefined) return undefined;
    const now = Date.now();
    const prev = this.last.get(key);
    if (prev && atNs <= prev.atNs) {
      prev.seenMs = now;
      return atNs === prev.atNs ? prev.rate : undefined;
    }
    const rate = prev && cpuNs >= prev.cpuNs ? ((cpuNs - prev.cpuNs) * 1_000_000_000n) / (atNs - prev.atNs) : undefined;
    this.last.set(key, { atNs, cpuNs, rate, seenMs: now });
    if (now - this.prunedMs > 60_000) this.prune(now);
    return rate;
  }

  private prune(now: number): void {
    this.prunedMs = now;
    for (const [k, v] of this.last) if (now - v.seenMs > CpuRates.STALE_MS) this.last.delete(k);
  }
}

export const containerRateKey = (id: string): string => `c:${id}`;
export const sandboxRateKey = (id: string): string => `p:${id}`;

export function containerStats(rec: ContainerRecord, u: ContainerUsage, rates: CpuRates): cri.ContainerStats {
  const ts = u.atNs.toString();
  const layer = u.writableLayer;
  return {
    attributes: {
      id: rec.id,
      metadata: { name: rec.name, attempt: rec.attempt },
      labels: { ...rec.labels },
      annotations: { ...rec.annotations },
    },
    cpu: cpuOf(ts, u.cpuNs, rates.rate(containerRateKey(rec.id), u.atNs, u.cpuNs)),
    memory: memoryOf(ts, u.memory),
    writable_layer: layer
      ? {
          timestamp: ts,
          fs_id: { mountpoint: layer.mountpoint },
          used_bytes: u64(layer.usedBytes),
          inodes_used: u64(layer.inodesUsed),
        }
      : null,
  };
}

/** PodSandboxStats; `container` finds the record of each of its containers (those without one are left out). */
export function sandboxStats(
  rec: SandboxRecord,
  u: SandboxUsage,
  rates: CpuRates,
  container: (id: string) => ContainerRecord | undefined,
): cri.PodSandboxStats {
  const ts = u.atNs.toString();
  const interfaces = u.interfaces?.map((i) => ({
    name: i.name,
    rx_bytes: u64(i.rxBytes),
    rx_errors: u64(i.rxErrors),
    tx_bytes: u64(i.txBytes),
    tx_errors: u64(i.txErrors),
  }));
  return {
    attributes: {
      id: rec.id,
      metadata: { name: rec.name, uid: rec.uid, namespace: rec.namespace, attempt: rec.attempt },
      labels: { ...rec.labels },
      annotations: { ...rec.annotations },
    },
    linux: {
      cpu: cpuOf(ts, u.cpuNs, rates.rate(sandboxRateKey(rec.id), u.atNs, u.cpuNs)),
      memory: memoryOf(ts, u.memory),
      network: interfaces
        ? {
            timestamp: ts,
            default_interface: interfaces.find((i) => i.name === 'eth0') ?? interfaces[0] ?? null,
            interfaces,
          }
        : null,
      process: u.processCount !== undefined ? { timestamp: ts, process_count: u64(u.processCount) } : null,
      containers: u.containers.flatMap((c) => {
        const cr = container(c.id);
        return cr ? [containerStats(cr, c, rates)] : [];
      }),
    },
  };
}
