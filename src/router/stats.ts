/**
 * Stats through the router: single objects go to their owner; lists fan out and merge. A backend that does not
 * implement stats is skipped in lists; when none does, the RPC is UNIMPLEMENTED so the kubelet falls back to
 * cAdvisor (that code is what it checks for).
 */
import type { CallContext } from '../backends/backend';
import { UnimplementedError } from '../errors';
import type * as cri from '../cri/types';
import type { RouterCore } from './core';
import { fanout, type FanoutResult } from './fanout';
import { labelsMatch } from './filters';
import { podMetrics } from './pod-metrics';

export interface StatsFilterSpec {
  id?: string;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export class StatsRouter {
  constructor(private readonly core: RouterCore) {}

  async container(ctx: CallContext, idOrPrefix: string): Promise<cri.ContainerStats> {
    const rec = this.core.mustFindContainer(idOrPrefix);
    return this.core.backend(rec.backend).containerStats(this.core.ctxFor(ctx, { container: rec.id }), rec.id);
  }

  async podSandbox(ctx: CallContext, idOrPrefix: string): Promise<cri.PodSandboxStats> {
    const rec = this.core.mustFindSandbox(idOrPrefix);
    return this.core.backend(rec.backend).podSandboxStats(this.core.ctxFor(ctx, { sandbox: rec.id }), rec.id);
  }

  async listContainers(ctx: CallContext, filter: StatsFilterSpec): Promise<cri.ContainerStats[]> {
    // Each backend's list is kept for the housekeeping interval (./views.ts): one cgroup walk per interval, not
    // one per call; a create or remove through crimux drops it, so the set of containers is always current.
    const results = await fanout([...this.core.backends.values()], ctx, this.core.settings.listTimeoutMs, (b, c) =>
      this.core.views.statsList(b, 'containers', c, (sc) => b.listContainerStats(sc)),
    );
    const id = filter.id ? (this.core.findContainer(filter.id)?.id ?? '-') : undefined;
    const pod = filter.podSandboxId ? (this.core.findSandbox(filter.podSandboxId)?.id ?? '-') : undefined;
    return merged(results, 'ListContainerStats').filter((s) => {
      const attrs = s.attributes;
      if (id && attrs?.id !== id) return false;
      const rec = this.core.store.getContainer(attrs?.id ?? '');
      if (!rec || (pod && rec.sandboxId !== pod)) return false;
      return labelsMatch(attrs?.labels, filter.labelSelector);
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
      this.core.views.statsList(b, 'sandboxes', c, (sc) => b.listPodSandboxStats(sc)),
    );
    const id = filter.id ? (this.core.findSandbox(filter.id)?.id ?? '-') : undefined;
    return merged(results, 'ListPodSandboxStats').filter((s) => {
      const attrs = s.attributes;
      if (id && attrs?.id !== id) return false;
      if (!this.core.store.getSandbox(attrs?.id ?? '')) return false;
      return labelsMatch(attrs?.labels, filter.labelSelector);
    });
  }
}

function merged<T>(results: FanoutResult<T[]>[], rpc: string): T[] {
  const served = results.filter((r) => !(!r.ok && r.error instanceof UnimplementedError));
  if (served.length === 0) throw new UnimplementedError(`${rpc}: no enabled backend implements it`);
  return served.flatMap((r) => (r.ok ? r.value : []));
}
