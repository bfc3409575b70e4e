/**
 * Stats through the router: single objects go to their owner; lists fan out and merge. Backends report usage
 * samples, shaped here into CRI stats (./shape-stats.ts). A backend that does not implement stats is skipped in
 * lists; when none does, the RPC is UNIMPLEMENTED so the kubelet falls back to cAdvisor (that code is what it
 * checks for).
 */
import type { CallContext } from '../backends/backend';
import { UnimplementedError } from '../errors';
import type * as cri from '../cri/types';
import { sleep } from '../host/wait';
import type { RouterCore } from './core';
import { fanout, type FanoutResult } from './fanout';
import { labelsMatch } from './filters';
import { podMetrics } from './pod-metrics';
import { containerRateKey, containerStats, CpuRates, sandboxRateKey, sandboxStats } from './shape-stats';

/**
 * A single stats call for something never sampled takes a second sample this much later, so its reply carries
 * a CPU rate (as the runc backend always did); lists do not wait: the kubelet derives a missing rate itself.
 */
const FIRST_RATE_GAP_MS = 100;

export interface StatsFilterSpec {
  id?: string;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export class StatsRouter {
  private readonly rates = new CpuRates();
  /**
   * Lists are kept per backend for the housekeeping interval (./views.ts) and a sample shapes the same every time
   * (CpuRates answers a seen sample alike), so each kept sample is shaped once, not once per relist.
   */
  private readonly shaped = new WeakMap<object, cri.ContainerStats | cri.PodSandboxStats>();

  constructor(private readonly core: RouterCore) {}

  async container(ctx: CallContext, idOrPrefix: string): Promise<cri.ContainerStats> {
    const rec = this.core.mustFindContainer(idOrPrefix);
    const b = this.core.backend(rec.backend);
    const c = this.core.ctxFor(ctx, { container: rec.id });
    let u = await b.containerUsage(c, rec.id);
    if (u.cpuNs !== undefined && !this.rates.has(containerRateKey(rec.id))) {
      this.rates.rate(containerRateKey(rec.id), u.atNs, u.cpuNs);
      await sleep(FIRST_RATE_GAP_MS, c.signal);
      u = await b.containerUsage(c, rec.id);
    }
    return containerStats(rec, u, this.rates);
  }

  async podSandbox(ctx: CallContext, idOrPrefix: string): Promise<cri.PodSandboxStats> {
    const rec = this.core.mustFindSandbox(idOrPrefix);
    const b = this.core.backend(rec.backend);
    const c = this.core.ctxFor(ctx, { sandbox: rec.id });
    let u = await b.podSandboxUsage(c, rec.id);
    if (u.cpuNs !== undefined && !this.rates.has(sandboxRateKey(rec.id))) {
      this.rates.rate(sandboxRateKey(rec.id), u.atNs, u.cpuNs);
      for (const cu of u.containers) this.rates.rate(containerRateKey(cu.id), cu.atNs, cu.cpuNs);
      await sleep(FIRST_RATE_GAP_MS, c.signal);
      u = await b.podSandboxUsage(c, rec.id);
    }
    return sandboxStats(rec, u, this.rates, (id) => this.core.store.getContainer(id));
  }

  async listContainers(ctx: CallContext, filter: StatsFilterSpec): Promise<cri.ContainerStats[]> {
    // Each backend's list is kept for the housekeeping interval (./views.ts): one cgroup walk per interval, not
    // one per call; a create or remove through crimux drops it, so the set of containers is always current.
    const results = await fanout([...this.core.backends.values()], ctx, this.core.settings.listTimeoutMs, (b, c) =>
      this.core.views.statsList(b, 'containers', c, (sc) => b.listContainerUsage(sc)),
    );
    const id = filter.id ? (this.core.findContainer(filter.id)?.id ?? '-') : undefined;
    const pod = filter.podSandboxId ? (this.core.findSandbox(filter.podSandboxId)?.id ?? '-') : undefined;
    return merged(results, 'ListContainerStats').flatMap((u) => {
      if (id && u.id !== id) return [];
      const rec = this.core.store.getContainer(u.id);
      if (!rec || (pod && rec.sandboxId !== pod) || !labelsMatch(rec.labels, filter.labelSelector)) return [];
      let st = this.shaped.get(u) as cri.ContainerStats | undefined;
      if (!st) this.shaped.set(u, (st = containerStats(rec, u, this.rates)));
      return [st];
    });
  }

  /** Pod metrics for every pod, derived from its stats (src/router/pod-metrics.ts). */
  async podMetrics(ctx: CallContext): Promise<cri.PodSandboxMetrics[]> {
    const all = await this.listPodSandboxes(ctx, {});
    return all.map((s) => podMetrics(s, (id) => this.core.store.getContainer(id)?.image ?? ''));
  }

  /** UNIMPLEMENTED when no enabled backend reports stats at all (checked from a cheap list of stats). */
  requireAny(rpc: string): void {
    if (this.core.backends.size === 0) throw new UnimplementedError(`${rpc}: no enabled backend reports stats`);
  }

  async listPodSandboxes(ctx: CallContext, filter: StatsFilterSpec): Promise<cri.PodSandboxStats[]> {
    const results = await fanout([...this.core.backends.values()], ctx, this.core.settings.listTimeoutMs, (b, c) =>
      this.core.views.statsList(b, 'sandboxes', c, (sc) => b.listPodSandboxUsage(sc)),
    );
    const id = filter.id ? (this.core.findSandbox(filter.id)?.id ?? '-') : undefined;
    const container = (cid: string): ReturnType<RouterCore['store']['getContainer']> =>
      this.core.store.getContainer(cid);
    return merged(results, 'ListPodSandboxStats').flatMap((u) => {
      if (id && u.id !== id) return [];
      const rec = this.core.store.getSandbox(u.id);
      if (!rec || !labelsMatch(rec.labels, filter.labelSelector)) return [];
      let st = this.shaped.get(u) as cri.PodSandboxStats | undefined;
      if (!st) this.shaped.set(u, (st = sandboxStats(rec, u, this.rates, container)));
      return [st];
    });
  }
}

function merged<T>(results: FanoutResult<T[]>[], rpc: string): T[] {
  const served = results.filter((r) => !(!r.ok && r.error instanceof UnimplementedError));
  if (served.length === 0) throw new UnimplementedError(`${rpc}: no enabled backend implements it`);
  return served.flatMap((r) => (r.ok ? r.value : []));
}
