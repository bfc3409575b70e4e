/**
 * Pod sandbox usage: the sum of the pod's running containers (CPU, memory) plus the pod's network counters, read
 * from /proc/<pause pid>/net/dev. Host-network pods report no network usage (it would be the node's).
 */
import type { CallContext, ContainerUsage, MemoryUsage, Quantity, SandboxUsage } from '../backend';
import { NotFoundError } from '../../errors';
import { readNetDev } from '../../host/net-dev';
import type { DockerShared } from './context';
import type { ContainerInspect } from './engine-types';
import { readSandbox } from './records';
import { selector } from './naming';
import type { StatsOps } from './stats';

/** CPU and memory of the pod: sums over its containers (cumulative counters and sizes add up; limits do not). */
export function sumContainerUsage(usage: readonly ContainerUsage[]): { cpuNs: bigint; memory: MemoryUsage } {
  const sum = (pick: (u: ContainerUsage) => Quantity | undefined): bigint =>
    usage.reduce((acc, u) => {
      const v = pick(u);
      // A bigint stays exact (cumulative CPU ns pass 2^53 after ~104 days of CPU); a number is Docker's JSON.
      return acc + (v === undefined ? 0n : typeof v === 'bigint' ? v : BigInt(Math.round(v)));
    }, 0n);
  return {
    cpuNs: sum((u) => u.cpuNs),
    memory: {
      workingSetBytes: sum((u) => u.memory?.workingSetBytes),
      usageBytes: sum((u) => u.memory?.usageBytes),
      rssBytes: sum((u) => u.memory?.rssBytes),
      pageFaults: sum((u) => u.memory?.pageFaults),
      majorPageFaults: sum((u) => u.memory?.majorPageFaults),
    },
  };
}

export class PodStatsOps {
  constructor(
    private readonly s: DockerShared,
    private readonly containers: StatsOps,
  ) {}

  async sandbox(ctx: CallContext, id: string): Promise<SandboxUsage> {
    const pause = await this.s.lookup.mustInspect('sandbox', id, ctx.signal);
    return this.of(ctx, pause);
  }

  /** Stats of every ready crimux sandbox; one that vanishes meanwhile is skipped. */
  async list(ctx: CallContext): Promise<SandboxUsage[]> {
    const all = await this.s.engine.listContainers(selector('sandbox'), ctx.signal);
    const results = await Promise.allSettled(
      all
        .filter((p) => p.State === 'running')
        .map(async (p) => this.of(ctx, await this.s.engine.inspectContainer(p.Id, { signal: ctx.signal }))),
    );
    return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  private async of(ctx: CallContext, pause: ContainerInspect): Promise<SandboxUsage> {
    const rec = readSandbox(pause.Config.Labels);
    if (!rec) throw new NotFoundError(`pod stats: docker container ${pause.Id} is not a crimux sandbox`);
    const running = (await this.s.lookup.containersOf(rec.id, ctx.signal)).filter((c) => c.State === 'running');
    const containers = (
      await Promise.allSettled(
        running.map(async (c) =>
          this.containers.ofInspect(
            ctx,
            await this.s.engine.inspectContainer(c.Id, { signal: ctx.signal, size: true }),
          ),
        ),
      )
    ).flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
    const live = !rec.hostNetwork && pause.State.Running && pause.State.Pid > 0;
    // The pod's numbers are its containers' sums: stamped as the latest of their samples (Docker's read times),
    // not at the start of this call, before the awaits that fetched them.
    const atNs = containers.reduce((m, c) => (c.atNs > m ? c.atNs : m), 0n) || this.s.host.clock.nowNs();
    return {
      id: rec.id,
      atNs,
      ...sumContainerUsage(containers),
      ...(rec.hostNetwork ? {} : { interfaces: live ? await readNetDev(pause.State.Pid) : [] }),
      containers,
    };
  }
}
