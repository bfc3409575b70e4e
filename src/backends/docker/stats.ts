/**
 * Container usage from Docker's one-shot stats API (cgroup v1 or v2 fields, whichever dockerd fills), plus the
 * writable layer size from inspect. Conversion is pure (toContainerUsage); the router shapes the CRI stats.
 */
import type { CallContext, ContainerUsage } from '../backend';
import { NotFoundError } from '../../errors';
import type { DockerShared } from './context';
import type { ContainerInspect, DockerStats } from './engine-types';
import { readContainer } from './records';
import { parseRfc3339Ns } from './timestamps';
import { selector } from './naming';
import type { BackendClock } from '../host';

export function toContainerUsage(
  c: ContainerInspect,
  st: DockerStats,
  writableMount: string,
  clock: BackendClock,
): ContainerUsage | undefined {
  const rec = readContainer(c.Config.Labels);
  if (!rec) return undefined;
  const m = st.memory_stats ?? {};
  const ms = m.stats ?? {};
  // cgroup v1 reports total_inactive_file, v2 inactive_file; working set = usage - inactive file pages (cAdvisor).
  const inactive = ms.total_inactive_file ?? ms.inactive_file ?? 0;
  return {
    id: rec.id,
    atNs: parseRfc3339Ns(st.read) || clock.nowNs(),
    cpuNs: st.cpu_stats?.cpu_usage?.total_usage,
    memory: {
      workingSetBytes: m.usage === undefined ? undefined : Math.max(0, m.usage - inactive),
      usageBytes: m.usage,
      limitBytes: m.limit,
      rssBytes: ms.total_rss ?? ms.rss ?? ms.anon,
      pageFaults: ms.total_pgfault ?? ms.pgfault,
      majorPageFaults: ms.total_pgmajfault ?? ms.pgmajfault,
    },
    writableLayer: { mountpoint: writableMount, usedBytes: c.SizeRw ?? 0 },
  };
}

export class StatsOps {
  private mount?: string;

  constructor(private readonly s: DockerShared) {}

  /** Where container writable layers live (Docker's graph driver dir), for FilesystemUsage.fs_id. */
  private async writableMount(ctx: CallContext): Promise<string> {
    if (!this.mount) {
      const info = await this.s.engine.info(ctx.signal);
      this.mount = `${info.DockerRootDir}/${info.Driver}`;
    }
    return this.mount;
  }

  async container(ctx: CallContext, id: string): Promise<ContainerUsage> {
    const c = await this.s.lookup.mustInspect('container', id, ctx.signal, true);
    const u = await this.ofInspect(ctx, c);
    if (!u) throw new NotFoundError(`container stats ${id}: docker container ${c.Id} is not a crimux container`);
    return u;
  }

  /** Usage of an inspected container (inspect with size, for the writable layer); undefined if not crimux's. */
  async ofInspect(ctx: CallContext, c: ContainerInspect): Promise<ContainerUsage | undefined> {
    const st = await this.s.engine.stats(c.Id, ctx.signal);
    return toContainerUsage(c, st, await this.writableMount(ctx), this.s.host.clock);
  }

  /** Usage of every running crimux container (exited ones have no cgroup left to read). */
  async list(ctx: CallContext): Promise<ContainerUsage[]> {
    const all = await this.s.engine.listContainers(selector('container'), ctx.signal);
    const running = all.filter((c) => c.State === 'running');
    const results = await Promise.allSettled(
      running.map(async (r) =>
        this.ofInspect(ctx, await this.s.engine.inspectContainer(r.Id, { signal: ctx.signal, size: true })),
      ),
    );
    // A container that exited between list and stats is skipped, not an error for the whole list.
    return results.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  }
}
