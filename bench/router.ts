/**
 * Benchmark: the router's own cost and how lists scale (issue #12, parts 1, 2, 4 and 5), on the runc backend.
 *
 *   npx tsx bench/router.ts      (BENCH_CALLS, BENCH_LIST_SCALES=10,100,1000, BENCH_LIST_BUDGET_S to change)
 *
 * 1. Router overhead: p50/p99 of Version, Status, PodSandboxStatus and ContainerStatus through crimux's socket
 *    versus the same backend operation called directly in-process, in one process and one run (the gRPC client
 *    shares the daemon's event loop here, which counts against crimux).
 * 2. List scaling: ListPodSandbox, ListContainers, ListContainerStats at 10, 100 and 1,000 running containers
 *    (bounded by a time budget; the largest scale reached is reported).
 * 4. Footprint: daemon RSS idle and with the containers of (2); host memory per runc pod.
 * 5. Throughput: pods started per second with 1, 2, 4, 8 parallel clients until latency degrades.
 * 6. The `:authority` frame filter (issue #15): Version with and without it, grpc-js and grpc-go clients
 *    (bench/filter-cost.ts). Written to bench/results/authority-filter.json and .md as well;
 *    BENCH_FILTER_ONLY=1 runs only this part.
 * Writes bench/results/router.json and .md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Daemon } from '../src/daemon';
import { loadConfig } from '../src/config/load';
import { nullLogger } from '../src/log/logger';
import { removeCgroupV1 } from '../src/host/cgroup-v1';
import { CriClient } from '../test/helpers/cri-client';
import { startDaemon, testRegistryMap, type DaemonHandle } from '../test/helpers/daemon';
import { ensureTestRegistry } from '../test/helpers/registry';
import { BUSYBOX } from '../test/fixtures/images';
import { cleanupNetwork, mountsMentioning, run, tempDir, writeCniConf } from '../test/runc/env';
import { machine, memAvailableBytes, pool, rssBytes, round, sample, summary, writeResults } from './lib';
import { authorityFilterCost, filterCostMarkdown, type FilterCost } from './filter-cost';

const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const SCALES = (process.env.BENCH_LIST_SCALES ?? '10,100,1000').split(',').map(Number);
const BUDGET_MS = Number(process.env.BENCH_LIST_BUDGET_S ?? 480) * 1000;
const SLOT = 8;
const PODS = 10;

function podConfig(logRoot: string, name: string) {
  const uid = `bench-${name}-${process.pid}`;
  return {
    metadata: { name, namespace: 'bench', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(logRoot, uid),
  };
}

async function runPodWithContainer(
  c: CriClient,
  logRoot: string,
  name: string,
  ctr = 'app',
): Promise<{ pod: string; ctr: string }> {
  const config = podConfig(logRoot, name);
  const pod = (await c.rt('RunPodSandbox', { config }, { deadlineMs: 120_000 })).pod_sandbox_id;
  const id = await addContainer(c, pod, config, ctr);
  return { pod, ctr: id };
}

async function addContainer(
  c: CriClient,
  pod: string,
  sandbox: ReturnType<typeof podConfig>,
  name: string,
): Promise<string> {
  const config = {
    metadata: { name },
    image: { image: BUSYBOX.ref },
    command: ['sleep', '3600'],
    log_path: `${name}.log`,
  };
  const id = (
    await c.rt('CreateContainer', { pod_sandbox_id: pod, config, sandbox_config: sandbox }, { deadlineMs: 120_000 })
  ).container_id;
  await c.rt('StartContainer', { container_id: id }, { deadlineMs: 60_000 });
  return id;
}

async function removeAll(c: CriClient): Promise<void> {
  const pods = (await c.rt('ListPodSandbox', {})).items ?? [];
  await pool(
    4,
    pods.map((p) => async () => {
      await c.rt('StopPodSandbox', { pod_sandbox_id: p.id ?? '' }, { deadlineMs: 120_000 });
      await c.rt('RemovePodSandbox', { pod_sandbox_id: p.id ?? '' }, { deadlineMs: 120_000 });
    }),
  );
}

function baseConfig(dir: string, confDir: string): Record<string, unknown> {
  return {
    handlers: { runc: { backend: 'runc', options: { runtimeRoot: path.join(dir, 'runc-root') } } },
    backends: { runc: { enabled: true, cgroupParent: `/crimux-bench-${process.pid}` } },
    network: { confDir },
    logLevel: 'error',
  };
}

/** Part 1: in one process, through the socket vs direct backend calls. */
async function routerOverhead(dir: string, confDir: string) {
  const config = loadConfig({
    env: {},
    overrides: {
      'socket.path': path.join(dir, 'inproc.sock'),
      stateDir: path.join(dir, 'inproc-state'),
      runDir: path.join(dir, 'inproc-run'),
      'metrics.address': '',
      'network.netnsDir': path.join(dir, 'inproc-run', 'netns'),
      'network.confDir': confDir,
      handlers: { runc: { backend: 'runc', options: { runtimeRoot: path.join(dir, 'inproc-root') } } },
      'backends.runc.enabled': true,
      'backends.runc.cgroupParent': `/crimux-bench-${process.pid}-inproc`,
      'images.registries': testRegistryMap(),
      logLevel: 'error',
    },
  });
  const daemon = await Daemon.start({ config, log: nullLogger() });
  const c = new CriClient(config.socket.path);
  const backend = daemon.backends.get('runc');
  if (!backend) throw new Error('runc backend not running');
  const ctx = () => ({ signal: AbortSignal.timeout(10_000), log: nullLogger() });
  try {
    await c.img('PullImage', { image: { image: BUSYBOX.ref } }, { deadlineMs: 120_000 });
    const { pod, ctr } = await runPodWithContainer(c, path.join(dir, 'inproc-logs'), 'overhead');
    const r = daemon.router;
    // Per RPC: through the socket (gRPC + router + backend), the router in-process (no gRPC), the backend alone.
    const ops: [string, () => Promise<unknown>, () => Promise<unknown>, () => Promise<unknown>][] = [
      [
        'Version',
        () => c.rt('Version', {}),
        async () => ({ runtime_name: 'crimux' }),
        async () => ({ runtime_name: 'crimux' }),
      ],
      ['Status', () => c.rt('Status', {}), () => r.status.status(ctx()), () => backend.health(ctx())],
      [
        'PodSandboxStatus',
        () => c.rt('PodSandboxStatus', { pod_sandbox_id: pod }),
        () => r.sandboxes.status(ctx(), pod, false),
        () => backend.podSandboxStatus(ctx(), pod, false),
      ],
      [
        'ContainerStatus',
        () => c.rt('ContainerStatus', { container_id: ctr }),
        () => r.containers.status(ctx(), ctr, false),
        () => backend.containerStatus(ctx(), ctr, false),
      ],
    ];
    const out: Record<string, unknown> = {};
    for (const [name, viaCrimux, viaRouter, direct] of ops) {
      for (const f of [viaCrimux, viaRouter, direct]) await sample(100, f);
      const a: number[] = [];
      const m: number[] = [];
      const b: number[] = [];
      // Alternate blocks so load changes on the machine hit all sides alike.
      for (let i = 0; i < 10; i++) {
        a.push(...(await sample(CALLS / 10, viaCrimux)));
        m.push(...(await sample(CALLS / 10, viaRouter)));
        b.push(...(await sample(CALLS / 10, direct)));
      }
      const sa = summary(a);
      const sm = summary(m);
      const sb = summary(b);
      out[name] = {
        crimux: sa,
        router: sm,
        direct: sb,
        addedP50ms: round(sa.p50 - sb.p50),
        routerAddedP50ms: round(sm.p50 - sb.p50),
        addedP99ms: round(sa.p99 - sb.p99),
      };
    }
    await removeAll(c);
    return out;
  } finally {
    c.close();
    await daemon.stop();
  }
}

/** Parts 2 and 4: lists at growing container counts, and the daemon's memory meanwhile. */
async function listScaling(d: DaemonHandle, logRoot: string) {
  const c = d.cri;
  const started = Date.now();
  const rssIdle = rssBytes(d.pid());
  const pods: { id: string; config: ReturnType<typeof podConfig> }[] = [];
  for (let i = 0; i < PODS; i++) {
    const config = podConfig(logRoot, `scale-${i}`);
    pods.push({ id: (await c.rt('RunPodSandbox', { config }, { deadlineMs: 120_000 })).pod_sandbox_id, config });
  }
  let count = 0;
  const scales: Record<string, unknown>[] = [];
  for (const target of SCALES) {
    const need = target - count;
    const tasks = Array.from({ length: Math.max(0, need) }, (_, i) => async () => {
      if (Date.now() - started > BUDGET_MS) return false;
      const p = pods[(count + i) % PODS] as (typeof pods)[number];
      await addContainer(c, p.id, p.config, `c${count + i}`);
      return true;
    });
    const made = (await pool(4, tasks)).filter(Boolean).length;
    count += made;
    const measure = async (m: 'ListPodSandbox' | 'ListContainers' | 'ListContainerStats') =>
      summary(await sample(30, () => c.rt(m, {}, { deadlineMs: 120_000 })));
    scales.push({
      containers: count,
      ListPodSandbox: await measure('ListPodSandbox'),
      ListContainers: await measure('ListContainers'),
      ListContainerStats: await measure('ListContainerStats'),
      daemonRssMiB: round(rssBytes(d.pid()) / 2 ** 20, 1),
    });
    if (count < target) break; // out of time budget: report the largest scale reached
  }
  await removeAll(c);
  return { daemonRssIdleMiB: round(rssIdle / 2 ** 20, 1), scales, budgetS: BUDGET_MS / 1000 };
}

/** Part 4: host memory per runc pod (pause + one sleeping container + their conmons), from MemAvailable. */
async function perPodMemory(d: DaemonHandle, logRoot: string) {
  const before = memAvailableBytes();
  for (let i = 0; i < 10; i++) await runPodWithContainer(d.cri, logRoot, `mem-${i}`);
  await new Promise((r) => setTimeout(r, 2000));
  const after = memAvailableBytes();
  await removeAll(d.cri);
  return { pods: 10, perPodMiB: round((before - after) / 10 / 2 ** 20, 1) };
}

/** Part 5: RunPodSandbox throughput with k parallel clients, until p50 latency triples. */
async function throughput(d: DaemonHandle, logRoot: string) {
  const rows: Record<string, unknown>[] = [];
  let base = 0;
  for (const k of [1, 2, 4, 8]) {
    const lat: number[] = [];
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: k }, async (_, w) => {
        for (let i = 0; i < 4; i++) {
          lat.push(
            ...(await sample(1, () =>
              d.rt('RunPodSandbox', { config: podConfig(logRoot, `tp-${k}-${w}-${i}`) }, { deadlineMs: 120_000 }),
            )),
          );
        }
      }),
    );
    const secs = (Date.now() - t0) / 1000;
    const s = summary(lat);
    rows.push({ clients: k, pods: lat.length, podsPerSecond: round(lat.length / secs, 2), p50ms: s.p50, p90ms: s.p90 });
    await removeAll(d.cri);
    if (k === 1) base = s.p50;
    else if (s.p50 > 3 * base) break;
  }
  return rows;
}

type Summary = ReturnType<typeof summary>;
interface Overhead {
  crimux: Summary;
  router: Summary;
  direct: Summary;
  addedP50ms: number;
  routerAddedP50ms: number;
}
interface Scale {
  containers: number;
  ListPodSandbox: Summary;
  ListContainers: Summary;
  ListContainerStats: Summary;
  daemonRssMiB: number;
}
interface Result {
  when: string;
  machine: string;
  overhead: Record<string, Overhead>;
  lists: { scales: Scale[]; daemonRssIdleMiB: number };
  memory: { perPodMiB: number };
  throughput: { clients: number; pods: number; podsPerSecond: number; p50ms: number; p90ms: number }[];
  authorityFilter: FilterCost;
}

function markdown(r: Result): string {
  const lines = [
    `# Router overhead, list scaling, footprint, throughput (runc backend)`,
    '',
    `${r.when} · ${r.machine}`,
    '',
  ];
  lines.push(
    '## Router overhead (through crimux vs the backend called in-process)',
    '',
    '| RPC | crimux p50 ms | router in-process p50 ms | backend p50 ms | added by router p50 ms | added in total p50 ms | crimux p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const [op, v] of Object.entries(r.overhead)) {
    lines.push(
      `| ${op} | ${v.crimux.p50} | ${v.router.p50} | ${v.direct.p50} | ${v.routerAddedP50ms} | **${v.addedP50ms}** | ${v.crimux.p99} |`,
    );
  }
  lines.push(
    '',
    'Target: ≤ 0.3 ms added at p50. "Added in total" includes the gRPC round trip over the unix socket (client and server share one Node process here); "added by router" is the router, validation, instrumentation-free part.',
    '',
    '## List latency by container count',
    '',
    '| containers | ListPodSandbox p50/p99 ms | ListContainers p50/p99 ms | ListContainerStats p50/p99 ms | daemon RSS MiB |',
    '|---:|---|---|---|---:|',
  );
  for (const s of r.lists.scales) {
    lines.push(
      `| ${s.containers} | ${s.ListPodSandbox.p50} / ${s.ListPodSandbox.p99} | ${s.ListContainers.p50} / ${s.ListContainers.p99} | ${s.ListContainerStats.p50} / ${s.ListContainerStats.p99} | ${s.daemonRssMiB} |`,
    );
  }
  lines.push(
    '',
    `Target: ≤ 20 ms at 1,000 containers. Daemon RSS idle: ${r.lists.daemonRssIdleMiB} MiB. Host memory per runc pod (pause + 1 container + conmons): ${r.memory.perPodMiB} MiB.`,
  );
  lines.push(
    '',
    '## RunPodSandbox throughput',
    '',
    '| parallel clients | pods | pods/s | p50 ms | p90 ms |',
    '|---:|---:|---:|---:|---:|',
  );
  for (const t of r.throughput)
    lines.push(`| ${t.clients} | ${t.pods} | ${t.podsPerSecond} | ${t.p50ms} | ${t.p90ms} |`);
  lines.push('', ...filterCostMarkdown(r.authorityFilter));
  return lines.join('\n');
}

async function main(): Promise<void> {
  await ensureTestRegistry();
  const dir = await tempDir('crimux-bench-router-');
  const confDir = await writeCniConf(dir, SLOT);
  const logRoot = path.join(dir, 'logs');
  let d: DaemonHandle | undefined;
  try {
    const authorityFilter = await authorityFilterCost(dir, CALLS);
    const filterResult = { when: new Date().toISOString(), machine: machine(), ...authorityFilter };
    const filterMd = [
      '# Authority filter cost',
      '',
      `${filterResult.when} · ${filterResult.machine}`,
      '',
      ...filterCostMarkdown(authorityFilter),
    ];
    writeResults('authority-filter', filterResult, filterMd.join('\n'));
    process.stdout.write(filterMd.join('\n') + '\n');
    if (process.env.BENCH_FILTER_ONLY === '1') return;
    const overhead = await routerOverhead(dir, confDir);
    d = await startDaemon({ config: baseConfig(dir, confDir) });
    await d.img('PullImage', { image: { image: BUSYBOX.ref } }, { deadlineMs: 120_000 });
    const lists = await listScaling(d, logRoot);
    const memory = await perPodMemory(d, logRoot);
    const tp = await throughput(d, logRoot);
    const result = {
      when: new Date().toISOString(),
      machine: machine(),
      calls: CALLS,
      overhead: overhead as Record<string, Overhead>,
      lists: lists as unknown as Result['lists'],
      memory,
      throughput: tp as Result['throughput'],
      authorityFilter,
    };
    writeResults('router', result, markdown(result));
    process.stdout.write(markdown(result) + '\n');
  } finally {
    if (d) {
      await removeAll(d.cri).catch(() => undefined);
      await d.stop().catch(() => undefined);
      await cleanupNetwork(path.join(d.runDir, 'netns'), SLOT).catch(() => undefined);
      await d.cleanup();
    }
    await cleanupNetwork(path.join(dir, 'inproc-run', 'netns'), SLOT).catch(() => undefined);
    for (const m of mountsMentioning(dir)) await run('umount', ['--lazy', m]).catch(() => undefined);
    await removeCgroupV1(`/crimux-bench-${process.pid}`).catch(() => undefined);
    await removeCgroupV1(`/crimux-bench-${process.pid}-inproc`).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/router: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
