/**
 * Pod sandbox stats: the sum of the pod's running containers (CPU, memory, processes) plus the pod's network
 * counters, read from /proc/<pause pid>/net/dev — that file shows the network namespace of the process, so no
 * helper has to enter it. Host-network pods report no network usage (it would be the node's).
 */
import fs from 'node:fs/promises';
import type * as cri from '../../cri/types';
import type { CallContext } from '../backend';
import { NotFoundError } from '../../errors';
import type { DockerShared } from './context';
import type { ContainerInspect } from './engine-types';
import { readSandbox } from './records';
import { selector } from './naming';
import type { StatsOps } from './stats';

type IfaceUsage = NonNullable<NonNullable<cri.PodSandboxStats['linux']>['network']>['default_interface'];

/** Parses /proc/net/dev; the loopback is left out, as cAdvisor does. */
export function parseNetDev(text: string): NonNullable<IfaceUsage>[] {
  const out: NonNullable<IfaceUsage>[] = [];
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = (m[2] ?? '').trim().split(/\s+/).map(Number);
    const v = (i: number): { value: string } => ({ value: String(f[i] ?? 0) });
    out.push({ name: m[1], rx_bytes: v(0), rx_errors: v(2), tx_bytes: v(8), tx_errors: v(10) });
  }
  return out;
}

const num = (v: { value?: unknown } | null | undefined): number => Number(v?.value ?? 0);

/** CPU and memory of the pod: sums over its containers (cumulative counters add up). */
export function sumContainerStats(
  stats: cri.ContainerStats[],
  ts: string,
): { cpu: cri.ContainerStats['cpu']; memory: cri.ContainerStats['memory'] } {
  const sum = (pick: (s: cri.ContainerStats) => { value?: unknown } | null | undefined): { value: string } => ({
    value: String(stats.reduce((acc, s) => acc + num(pick(s)), 0)),
  });
  return {
    cpu: { timestamp: ts, usage_core_nano_seconds: sum((s) => s.cpu?.usage_core_nano_seconds) },
    memory: {
      timestamp: ts,
      working_set_bytes: sum((s) => s.memory?.working_set_bytes),
      usage_bytes: sum((s) => s.memory?.usage_bytes),
      rss_bytes: sum((s) => s.memory?.rss_bytes),
      page_faults: sum((s) => s.memory?.page_faults),
      major_page_faults: sum((s) => s.memory?.major_page_faults),
    },
  };
}

export class PodStatsOps {
  constructor(
    private readonly s: DockerShared,
    private readonly containers: StatsOps,
  ) {}

  async sandbox(ctx: CallContext, id: string): Promise<cri.PodSandboxStats> {
    const pause = await this.s.lookup.mustInspect('sandbox', id, ctx.signal);
    return this.of(ctx, pause);
  }

  /** Stats of every ready crimux sandbox; one that vanishes meanwhile is skipped. */
  async list(ctx: CallContext): Promise<cri.PodSandboxStats[]> {
    const all = await this.s.engine.listContainers(selector('sandbox'), ctx.signal);
    const results = await Promise.allSettled(
      all
        .filter((p) => p.State === 'running')
        .map(async (p) => this.of(ctx, await this.s.engine.inspectContainer(p.Id, { signal: ctx.signal }))),
    );
    return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  private async of(ctx: CallContext, pause: ContainerInspect): Promise<cri.PodSandboxStats> {
    const rec = readSandbox(pause.Config.Labels);
    if (!rec) throw new NotFoundError(`pod stats: docker container ${pause.Id} is not a crimux sandbox`);
    const ts = this.s.host.clock.nowNs().toString();
    const running = (await this.s.lookup.containersOf(rec.id, ctx.signal)).filter((c) => c.State === 'running');
    const containerStats = (
      await Promise.allSettled(
        running.map(async (c) =>
          this.containers.ofInspect(
            ctx,
            await this.s.engine.inspectContainer(c.Id, { signal: ctx.signal, size: true }),
          ),
        ),
      )
    ).flatMap((r) => (r.status === 'fulfilled' && r.value.attributes ? [r.value] : []));
    const { cpu, memory } = sumContainerStats(containerStats, ts);
    let network: NonNullable<cri.PodSandboxStats['linux']>['network'];
    if (!rec.hostNetwork && pause.State.Running && pause.State.Pid > 0) {
      const text = await fs.readFile(`/proc/${pause.State.Pid}/net/dev`, 'utf8').catch(() => '');
      const interfaces = parseNetDev(text);
      network = {
        timestamp: ts,
        default_interface: interfaces.find((i) => i.name === 'eth0') ?? interfaces[0] ?? null,
        interfaces,
      };
    }
    return {
      attributes: { id: rec.id, metadata: rec.metadata, labels: rec.labels, annotations: rec.annotations },
      linux: { cpu, memory, network, containers: containerStats },
    };
  }
}
