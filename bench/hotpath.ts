/**
 * Benchmark: the kubelet's hot path side by side with containerd (issue #21), with the kubelet's own gRPC
 * library: the Go interop client (test/interop/go, built by scripts/build-go-client.sh) times crimux and a private
 * containerd (bench/containerd.ts: own root, state and socket under /var/tmp, stopped afterwards) two ways: one
 * runtime after the other in rotating rounds (as the issue measured) and alternating call by call.
 *
 *   npx tsx bench/hotpath.ts     (BENCH_SCALES=10,100,1000  BENCH_CALLS=1000  BENCH_CALLS_LARGE=200  to change;
 *                                 BENCH_MODES=blocks,alternating  BENCH_BLOCK_ROUNDS=4  BENCH_RESULTS=hotpath;
 *                                 BENCH_STATS_CALLS=50: fewer ListContainerStats calls, which take containerd
 *                                 over a second each at 1,000 containers)
 *
 * crimux runs as deployed (the compiled dist/, built first) with all four backends enabled (runc serves the pods); both runtimes get the same host-network
 * pods (no CNI on either side) with 10 running busybox containers each, grown scale by scale. At every scale:
 * Version, Status, ListPodSandbox, ListContainers, PodSandboxStatus, ContainerStatus, ListImages, ImageStatus
 * and ListContainerStats, p50/p99 per runtime and the ratio of p50s. Also the idle RSS of both daemons.
 * Writes bench/results/hotpath.json and .md. Not part of npm test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DaemonHandle } from '../test/helpers/daemon';
import { ensureTestRegistry } from '../test/helpers/registry';
import { BUSYBOX, PAUSE } from '../test/fixtures/images';
import { canLowerOomScoreAdj, startContainerd, type Containerd } from './containerd';
import { machine, round, rssBytes, summary, writeResults } from './lib';
import { grow, PER_POD, removeAll, startAllBackends, type Runtime } from './pods';

const DEFAULT_SCALES = [10, 100, 1000];
const SCALES = (process.env.BENCH_SCALES ?? DEFAULT_SCALES.join(',')).split(',').map(Number);
const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const CALLS_LARGE = Number(process.env.BENCH_CALLS_LARGE ?? 200);
/** Rounds of the block mode (each runtime's calls back to back, the order rotating), as the issue measured. */
const BLOCK_ROUNDS = Number(process.env.BENCH_BLOCK_ROUNDS ?? 4);
/** ListContainerStats calls per scale (0: as many as the other RPCs). */
const STATS_CALLS = Number(process.env.BENCH_STATS_CALLS ?? 0);
type Mode = 'alternating' | 'blocks';
const MODES = (process.env.BENCH_MODES ?? 'blocks,alternating').split(',') as Mode[];
/** Results file name under bench/results (a run at 1,000 containers alone can keep the 10/100 file). */
const RESULTS = process.env.BENCH_RESULTS ?? 'hotpath';
const RPCS = [
  'Version',
  'Status',
  'ListPodSandbox',
  'ListContainers',
  'PodSandboxStatus',
  'ContainerStatus',
  'ListImages',
  'ImageStatus',
  'ListContainerStats',
];

interface Row {
  mode: Mode;
  rpc: string;
  containers: number;
  calls: number;
  crimux: { p50: number; p99: number; items: number };
  containerd?: { p50: number; p99: number; items: number };
  ratio?: number;
}

function sideBySide(
  client: string,
  mode: Mode,
  a: Runtime,
  b: Runtime | undefined,
  calls: number,
  containers: number,
  rpcs: readonly string[] = RPCS,
): Row[] {
  // The same authority on both sides (-bench-against dials with localhost, as kubelet >= 1.31 does); the socket
  // path form of older kubelets goes through crimux's authority filter (bench/results/transport.md prices it).
  const args = ['-socket', a.socket, '-authority', 'localhost', '-bench-rpcs', rpcs.join(',')];
  // Untimed Version calls first: otherwise the first RPCs timed also pay for warming the transport's code.
  args.push('-bench-n', String(calls), '-bench-warmup', '2000', '-image', PAUSE.ref);
  if (b) args.push('-bench-against', b.socket);
  if (mode === 'blocks') args.push('-bench-blocks', String(BLOCK_ROUNDS));
  const out = execFileSync(client, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 1_800_000 });
  const res = JSON.parse(out) as { rpcs: Record<string, { us: number[][]; items: number[] }> };
  return rpcs.map((rpc) => {
    const r = res.rpcs[rpc];
    if (!r) throw new Error(`no result for ${rpc}`);
    const stat = (k: number) => {
      const s = summary((r.us[k] ?? []).map((us) => us / 1000));
      return { p50: s.p50, p99: s.p99, items: r.items[k] ?? 0 };
    };
    const row: Row = { mode, rpc, containers, calls, crimux: stat(0) };
    if (b) {
      row.containerd = stat(1);
      row.ratio = round(row.crimux.p50 / row.containerd.p50, 2);
    }
    return row;
  });
}

function table(rows: Row[], mode: Mode, how: string): string {
  if (!MODES.includes(mode)) return `(${mode}: not run this time, BENCH_MODES)`;
  return [
    `## ${mode === 'blocks' ? 'Blocks' : 'Alternating'}`,
    '',
    how,
    '',
    '| containers | RPC | crimux p50 / p99 ms | containerd p50 / p99 ms | crimux / containerd (p50) |',
    '|---:|---|---|---|---:|',
    ...rows
      .filter((r) => r.mode === mode)
      .map(
        (r) =>
          `| ${r.containers} | ${r.rpc} | ${r.crimux.p50} / ${r.crimux.p99} | ${r.containerd ? `${r.containerd.p50} / ${r.containerd.p99}` : '-'} | ${r.ratio ?? '-'}× |`,
      ),
  ].join('\n');
}

async function main(): Promise<void> {
  const client = execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'build-go-client.sh')], {
    encoding: 'utf8',
  }).trim();
  const { port } = await ensureTestRegistry();
  const registry = `127.0.0.1:${port}`;
  const logRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-bench-hotpath-'));
  const d: DaemonHandle = await startAllBackends('hotpath', logRoot);
  let ctr: Containerd | undefined;
  let note = '';
  const rss: Record<string, number> = {};
  const rows: Row[] = [];
  const crimux: Runtime = {
    name: 'crimux',
    cri: d.cri,
    socket: d.socket,
    busybox: BUSYBOX.ref,
    logRoot,
    pods: 0,
  };
  let other: Runtime | undefined;
  try {
    await new Promise((r) => setTimeout(r, 5000));
    rss.crimuxIdleMiB = round(rssBytes(d.pid()) / 2 ** 20, 1);
    try {
      ctr = await startContainerd(registry, `${registry}/${PAUSE.local}`);
      await new Promise((r) => setTimeout(r, 3000));
      rss.containerdIdleMiB = round(rssBytes(ctr.pid) / 2 ** 20, 1);
      other = {
        name: 'containerd',
        cri: ctr.cri,
        socket: ctr.socket,
        busybox: `${registry}/${BUSYBOX.local}`,
        logRoot,
        pods: 0,
      };
    } catch (err) {
      note = `containerd not measured: ${(err as Error).message.split('\n')[0] ?? ''}`;
      process.stderr.write(`${note}\n`);
    }
    await d.img('PullImage', { image: { image: BUSYBOX.ref } }, { deadlineMs: 300_000 });
    await d.img('PullImage', { image: { image: PAUSE.ref } }, { deadlineMs: 300_000 });
    if (other) {
      await other.cri.img('PullImage', { image: { image: other.busybox } }, { deadlineMs: 300_000 });
      await other.cri.img('PullImage', { image: { image: `${registry}/${PAUSE.local}` } }, { deadlineMs: 300_000 });
    }
    for (const scale of SCALES) {
      const t0 = Date.now();
      await grow(crimux, scale);
      if (other) {
        try {
          await grow(other, scale);
        } catch (err) {
          // Measured alone then, with the reason in the results (containerd's pods fail on some hosts).
          note = `containerd dropped at ${scale} containers: ${(err as Error).message.split('\n')[0] ?? ''}`;
          process.stderr.write(`${note}\n`);
          await removeAll(other).catch(() => undefined);
          other = undefined;
        }
      }
      process.stderr.write(`scale ${scale}: containers ready in ${Math.round((Date.now() - t0) / 1000)} s\n`);
      await new Promise((r) => setTimeout(r, 3000));
      const calls = scale >= 1000 ? CALLS_LARGE : CALLS;
      const statsApart = STATS_CALLS > 0 && STATS_CALLS < calls;
      const got = MODES.flatMap((mode) =>
        statsApart
          ? [
              ...sideBySide(
                client,
                mode,
                crimux,
                other,
                calls,
                scale,
                RPCS.filter((r) => r !== 'ListContainerStats'),
              ),
              ...sideBySide(client, mode, crimux, other, STATS_CALLS, scale, ['ListContainerStats']),
            ]
          : sideBySide(client, mode, crimux, other, calls, scale),
      );
      rows.push(...got);
      rss[`crimuxAt${scale}MiB`] = round(rssBytes(d.pid()) / 2 ** 20, 1);
      if (ctr) rss[`containerdAt${scale}MiB`] = round(rssBytes(ctr.pid) / 2 ** 20, 1);
      process.stderr.write(
        got
          .map((r) => `  ${r.mode} ${r.rpc}: ${r.crimux.p50} vs ${r.containerd?.p50 ?? '-'} ms (${r.ratio ?? '-'}×)`)
          .join('\n') + '\n',
      );
    }
  } finally {
    await removeAll(crimux).catch((err: unknown) => process.stderr.write(`crimux cleanup: ${String(err)}\n`));
    if (other)
      await removeAll(other).catch((err: unknown) => process.stderr.write(`containerd cleanup: ${String(err)}\n`));
    await ctr?.stop();
    await d.stop();
    spawnSync('umount', ['-l', path.join(d.runDir, 'netns')]);
    await d.cleanup().catch((err: unknown) => process.stderr.write(`cleanup: ${String(err)}\n`));
    fs.rmSync(logRoot, { recursive: true, force: true });
  }
  const env = machine();
  const skipped = DEFAULT_SCALES.filter((n) => !SCALES.includes(n));
  const scales = `Containers: ${SCALES.join(', ')} (BENCH_SCALES)${skipped.length ? `; ${skipped.join(' and ')} not run this time (${RESULTS === 'hotpath' ? "earlier figures at those scales are in this file's git history" : 'see bench/results/hotpath.md'})` : ''}.`;
  const large = SCALES.some((n) => n >= 1000) ? ` (${CALLS_LARGE} at 1,000 containers)` : '';
  const stats = STATS_CALLS > 0 ? `, ListContainerStats ${STATS_CALLS} where fewer,` : '';
  const oom = canLowerOomScoreAdj()
    ? ''
    : ' containerd runs with restrict_oom_score_adj = true: root here lacks CAP_SYS_RESOURCE, so the -998 oom_score_adj containerd gives sandboxes cannot be set (runc fails with "can\'t get final child\'s PID from pipe: EOF").';
  const md = [
    '# The kubelet hot path side by side with containerd (issue #21)',
    '',
    `${new Date().toISOString()} · ${env} · containerd ${ctr?.version ?? 'not measured'}`,
    '',
    `Go gRPC client (grpc-go, the kubelet's library; test/interop/go -bench-rpcs); ${CALLS} calls per RPC and runtime${large}${stats} after a fifth as many warm-up calls (and 2,000 untimed Version calls per runtime before the first RPC)${MODES.includes('blocks') ? `, in ${BLOCK_ROUNDS} rounds in the block mode` : ''}. crimux: all four backends enabled and up (dockerd running), pods on runc; authority localhost on both sides. Both: host-network pods with ${PER_POD} running busybox containers each. ${scales}${oom}${note ? ` ${note}.` : ''}`,
    '',
    table(
      rows,
      'blocks',
      `One runtime after the other in the same window, as the issue measured: each runtime's calls back to back, ${BLOCK_ROUNDS} rounds with the order rotating (-bench-blocks), figures pooled over the rounds.`,
    ),
    '',
    table(
      rows,
      'alternating',
      "Alternating call by call between the two runtimes, so load on the machine hits both alike (each call finds the other runtime's work in the CPU caches).",
    ),
    '',
    `RSS MiB: ${Object.entries(rss)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
  ].join('\n');
  writeResults(
    RESULTS,
    { machine: env, containerd: ctr?.version, calls: CALLS, scales: SCALES, notRun: skipped, rows, rss, note },
    md,
  );
  process.stdout.write(md + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
