/**
 * Benchmark: what starting a host command costs the daemon, with Node's own spawn (a fork of the daemon) and with
 * the crimux-spawn helper (src/host/spawner.ts), at the daemon's resident sizes: idle (~90 MiB), with 1,000
 * containers (~250 MiB) and beyond. Each round runs 120 `true` through runCommand, two at a time as concurrent
 * RPCs do, and measures wall time, the daemon's CPU and the event loop's delay (what every other RPC in flight
 * waits). Resident size is set with touched ballast; the two ways alternate round by round.
 *
 *   npx tsx bench/spawn.ts      (BENCH_ROUNDS=3 to change)
 *
 * Writes bench/results/spawn.json and .md. Not part of npm test. Needs scripts/build-native.sh.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import os from 'node:os';
import { runCommand } from '../src/host/process';
import { stopSpawnHelper, useSpawnHelper } from '../src/host/spawner';
import { machine, quantile, round, writeResults } from './lib';

const HELPER = process.env.CRIMUX_SPAWN_HELPER || '/usr/local/libexec/crimux/crimux-spawn';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SPAWNS = 120;
const SIZES_MIB = [0, 150, 250];

interface Sample {
  wallMs: number;
  cpuMs: number;
  loopP99Ms: number;
  loopMaxMs: number;
}

async function measure(): Promise<Sample> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < SPAWNS / 2; i++) await Promise.all([runCommand('true', []), runCommand('true', [])]);
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  h.disable();
  return { wallMs, cpuMs: (c.user + c.system) / 1000, loopP99Ms: h.percentile(99) / 1e6, loopMaxMs: h.max / 1e6 };
}

const median = (xs: number[]): number => round(quantile(xs, 0.5));

async function main(): Promise<void> {
  const ballast: Buffer[] = [];
  const rows: string[] = [];
  const json: Record<string, unknown>[] = [];
  for (const extra of SIZES_MIB) {
    while (ballast.length < extra) ballast.push(Buffer.alloc(1 << 20, 1)); // filled: resident, as a heap is
    const samples: Record<'node' | 'helper', Sample[]> = { node: [], helper: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const way of r % 2 === 0 ? (['node', 'helper'] as const) : (['helper', 'node'] as const)) {
        if (way === 'helper' && !(await useSpawnHelper(HELPER, os.tmpdir(), () => undefined))) {
          throw new Error(`${HELPER} missing: run scripts/build-native.sh`);
        }
        samples[way].push(await measure());
        await stopSpawnHelper();
      }
    }
    const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
    for (const way of ['node', 'helper'] as const) {
      const s = samples[way];
      const row = {
        rssMiB: rss,
        way,
        wallMs: median(s.map((x) => x.wallMs)),
        cpuMsPerSpawn: round(median(s.map((x) => x.cpuMs)) / SPAWNS),
        loopP99Ms: median(s.map((x) => x.loopP99Ms)),
        loopMaxMs: median(s.map((x) => x.loopMaxMs)),
      };
      json.push(row);
      rows.push(
        `| ${rss} | ${way === 'node' ? 'Node spawn (fork of the daemon)' : 'crimux-spawn helper'} | ${row.wallMs} | ${row.cpuMsPerSpawn} | ${row.loopP99Ms} | ${row.loopMaxMs} |`,
      );
    }
  }
  (globalThis as { ballast?: unknown }).ballast = ballast; // kept alive to the end
  const md = [
    '# Starting host commands: Node spawn vs the crimux-spawn helper',
    '',
    `${new Date().toISOString()} · ${machine()} · ${ROUNDS} rounds, alternating, medians`,
    '',
    `${SPAWNS} runs of \`true\` through runCommand, two at a time. Daemon CPU is this process's (the helper's own`,
    "fork is not the daemon's). Loop delay is what any RPC in flight meanwhile waits extra.",
    '',
    '| daemon RSS MiB | way | wall ms | daemon CPU ms / spawn | loop delay p99 ms | loop delay max ms |',
    '|---:|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
  writeResults('spawn', { machine: machine(), rounds: ROUNDS, spawns: SPAWNS, rows: json }, md);
  process.stdout.write(`${md}\n`);
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
