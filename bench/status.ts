/**
 * Benchmark: Status latency with all four backends enabled (issue #21), before and after background health.
 *
 *   npx tsx bench/status.ts      (BENCH_CALLS=1000, BENCH_WARMUP=200 to change)
 *
 * Two daemons one after the other on the same machine: `lists.healthProbeIntervalMs: 0` (every Status probes
 * every backend at call time, the old behaviour) and the default (Status answers from the background probes).
 * Writes bench/results/status.json and .md.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon } from '../test/helpers/daemon';
import { DOCKER_SOCKET } from '../test/helpers/dockerd';
import { GUEST_DIR } from '../test/vm/helpers';
import { machine, sample, summary, writeResults } from './lib';

const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 200);

async function statusLatency(
  intervalMs: number,
): Promise<{ p50: number; p90: number; p99: number; backends: Record<string, boolean> }> {
  const logRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-bench-status-'));
  const d = await startDaemon({
    config: {
      logLevel: 'info',
      handlers: {
        runc: { backend: 'runc', options: {} },
        vm: { backend: 'vm', options: {} },
        docker: { backend: 'docker', options: {} },
        rkt: { backend: 'rkt', options: {} },
      },
      backends: {
        runc: { enabled: true },
        vm: { enabled: true, guestDir: GUEST_DIR },
        docker: { enabled: true, socket: DOCKER_SOCKET },
        rkt: { enabled: true },
      },
      lists: { healthProbeIntervalMs: intervalMs },
      security: { logRoot },
    },
  });
  try {
    const call = (): Promise<unknown> => d.rt('Status', {});
    await sample(WARMUP, call);
    const s = summary(await sample(CALLS, call));
    const v = await d.rt('Status', { verbose: true });
    const health = JSON.parse(v.info.backends ?? '{}') as Record<string, { ready: boolean }>;
    return {
      p50: s.p50,
      p90: s.p90,
      p99: s.p99,
      backends: Object.fromEntries(Object.entries(health).map(([k, h]) => [k, h.ready])),
    };
  } finally {
    await d.stop();
    // The runc backend bind-mounts its netns dir; unmount it so the temp dir can go.
    spawnSync('umount', ['-l', path.join(d.runDir, 'netns')]);
    await d.cleanup().catch((err: unknown) => process.stderr.write(`cleanup: ${String(err)}\n`));
    fs.rmSync(logRoot, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const before = await statusLatency(0);
  const after = await statusLatency(2000);
  const env = machine();
  const md = [
    '# Status latency, all four backends enabled (issue #21)',
    '',
    `${new Date().toISOString()} · ${env}`,
    '',
    `${CALLS} Status calls after ${WARMUP} warm-up, grpc-js client over the unix socket, one daemon per row.`,
    '',
    '| health | p50 ms | p90 ms | p99 ms | backends ready |',
    '|---|---:|---:|---:|---|',
    `| probed at every call (before, \`healthProbeIntervalMs: 0\`) | ${before.p50} | ${before.p90} | ${before.p99} | ${fmt(before.backends)} |`,
    `| background probes every 2 s (after, default) | ${after.p50} | ${after.p90} | ${after.p99} | ${fmt(after.backends)} |`,
    '',
    `p50 ${round1(before.p50 / after.p50)}× faster.`,
  ].join('\n');
  writeResults('status', { machine: env, calls: CALLS, warmup: WARMUP, before, after }, md);
  process.stdout.write(md + '\n');
}

const fmt = (b: Record<string, boolean>): string =>
  Object.entries(b)
    .map(([k, v]) => `${k} ${v ? '✓' : '✗'}`)
    .join(', ');
const round1 = (x: number): number => Math.round(x * 10) / 10;

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
