/**
 * Container stats from Docker's one-shot stats API (cgroup v1 or v2 fields, whichever dockerd fills), plus the
 * writable layer size from inspect. Conversion is pure (toContainerStats); usage_nano_cores is left to the
 * kubelet, which derives it from two cumulative samples when a runtime does not report it.
 */
import type * as cri from '../../cri/types';
import type { CallContext } from '../backend';
import type { DockerShared } from './context';
import type { ContainerInspect, DockerStats } from './engine-types';
import { readContainer } from './records';
import { parseRfc3339Ns } from './timestamps';
import { selector } from './naming';
import type { BackendClock } from '../host';

const u64 = (n: number | undefined): { value: string } | undefined =>
  n === undefined || !Number.isFinite(n) || n < 0 ? undefined : { value: String(Math.round(n)) };

export function toContainerStats(
  c: ContainerInspect,
  st: DockerStats,
  writableMount: string,
  clock: BackendClock,
): cri.ContainerStats | undefined {
  const rec = readContainer(c.Config.Labels);
  if (!rec) return undefined;
  const ts = (parseRfc3339Ns(st.read) || clock.nowNs()).toString();
  const m = st.memory_stats ?? {};
  const ms = m.stats ?? {};
  // cgroup v1 reports total_inactive_file, v2 inactive_file; working set = usage - inactive file pages (cAdvisor).
  const inactive = ms.total_inactive_file ?? ms.inactive_file ?? 0;
  const usage = m.usage;
  const workingSet = usage === undefined ? undefined : Math.max(0, usage - inactive);
  const limit = m.limit;
  const available =
    limit !== undefined && workingSet !== undefined && limit < 2 ** 62 ? Math.max(0, limit - workingSet) : undefined;
  return {
    attributes: { id: rec.id, metadata: rec.metadata, labels: rec.labels, annotations: rec.annotations },
    cpu: { timestamp: ts, usage_core_nano_seconds: u64(st.cpu_stats?.cpu_usage?.total_usage) },
    memory: {
      timestamp: ts,
      working_set_bytes: u64(workingSet),
      usage_bytes: u64(usage),
      available_bytes: u64(available),
      rss_bytes: u64(ms.total_rss ?? ms.rss ?? ms.anon),
      page_faults: u64(ms.total_pgfault ?? ms.pgfault),
      major_page_faults: u64(ms.total_pgmajfault ?? ms.pgmajfault),
    },
    writable_layer: {
      timestamp: ts,
      fs_id: { mountpoint: writableMount },
      used_bytes: u64(c.SizeRw ?? 0),
    },
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

  async container(ctx: CallContext, id: string): Promise<cri.ContainerStats> {
    const c = await this.s.lookup.mustInspect('container', id, ctx.signal, true);
    return this.ofInspect(ctx, c);
  }

  /** Stats of an inspected container (inspect with size, for the writable layer). */
  async ofInspect(ctx: CallContext, c: ContainerInspect): Promise<cri.ContainerStats> {
    const st = await this.s.engine.stats(c.Id, ctx.signal);
    const out = toContainerStats(c, st, await this.writableMount(ctx), this.s.host.clock);
    return out ?? {};
  }

  /** Stats of every running crimux container (exited ones have no cgroup left to read). */
  async list(ctx: CallContext): Promise<cri.ContainerStats[]> {
    const all = await this.s.engine.listContainers(selector('container'), ctx.signal);
    const running = all.filter((c) => c.State === 'running');
    const results = await Promise.allSettled(
      running.map(async (r) =>
        this.ofInspect(ctx, await this.s.engine.inspectContainer(r.Id, { signal: ctx.signal, size: true })),
      ),
    );
    // A container that exited between list and stats is skipped, not an error for the whole list.
    return results.flatMap((r) => (r.status === 'fulfilled' && r.value.attributes ? [r.value] : []));
  }
}
