/**
 * Benchmark: how busy the main thread is during a cold pull (issue #25), in process (OciImageStore with the spawn
 * helper, as the daemon runs it): wall time, the event loop's utilisation over the pull, and the process's CPU
 * (thread pool included), and with tar and zstd (reaped by the spawn helper). An ELU near 1 says the main thread is
 * busy throughout; all CPU over the wall time says how many of the machine's cores the pull keeps busy.
 *
 *   npx tsx bench/pull-main-thread.ts      (BENCH_SHAPE=four40  BENCH_COMPRESSIONS=gzip,zstd  BENCH_ROUNDS=3)
 *
 * For where that time goes, run it with `node --import tsx --cpu-prof --cpu-prof-dir=DIR` and read the samples
 * between the WINDOW marks it prints (µs of the monotonic clock, which V8's profile timestamps use too).
 * Writes bench/results/pull-main-thread.json and .md. Not part of npm test.
 */
import { execSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { OciImageStore } from '../src/images/store';
import { nullLogger } from '../src/log/logger';
import { Metrics } from '../src/metrics/metrics';
import { stopSpawnHelper, useSpawnHelper } from '../src/host/spawner';
import { ensureTestRegistry } from '../test/helpers/registry';
import { SHAPES, buildAndPush, type Compression } from './image-build';
import { cpuMs, machine, round, writeResults } from './lib';

const SHAPE = process.env.BENCH_SHAPE ?? 'four40';
const COMPRESSIONS = (process.env.BENCH_COMPRESSIONS ?? 'gzip,zstd').split(',') as Compression[];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HELPER = process.env.CRIMUX_SPAWN_HELPER ?? '/usr/local/libexec/crimux/crimux-spawn';
// As the daemon's images.unpackHelper; CRIMUX_UNPACK_HELPER="" measures the in-process unpack.
const UNPACK_HELPER = process.env.CRIMUX_UNPACK_HELPER ?? '/usr/local/libexec/crimux/crimux-layer';

interface Row {
  compression: Compression;
  ms: number;
  elu: number;
  cpuMs: number;
  allCpuMs: number;
}

async function pullOnce(port: number, compression: Compression): Promise<Row> {
  const shape = SHAPES[SHAPE];
  if (!shape) throw new Error(`no shape ${SHAPE}`);
  const img = await buildAndPush(port, shape, compression);
  const root = await mkdtemp('/var/tmp/crimux-bench-elu-');
  const store = new OciImageStore({
    root: path.join(root, 'images'),
    registries: { '*': { endpoints: [{ url: `http://127.0.0.1:${port}` }] } },
    pullTimeoutSeconds: 600,
    log: nullLogger(),
    metrics: new Metrics({ processMetrics: false }),
    unpackHelper: UNPACK_HELPER,
  });
  try {
    await store.start();
    execSync('sync; echo 3 > /proc/sys/vm/drop_caches');
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const all0 = cpuMs(process.pid);
    const t0 = performance.now();
    const from = process.hrtime.bigint() / 1000n;
    await store.pull({ signal: AbortSignal.timeout(600_000), log: nullLogger() }, { image: img.ref });
    const ms = performance.now() - t0;
    process.stderr.write(`WINDOW ${from} ${process.hrtime.bigint() / 1000n}\n`);
    const cpu = process.cpuUsage(cpu0);
    const allCpuMs = cpuMs(process.pid) - all0;
    return {
      compression,
      ms: round(ms, 0),
      elu: round(performance.eventLoopUtilization(elu0).utilization, 2),
      cpuMs: round((cpu.user + cpu.system) / 1000, 0),
      allCpuMs,
    };
  } finally {
    await store.close();
    await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { port } = await ensureTestRegistry();
  const runDir = await mkdtemp('/var/tmp/crimux-bench-elu-run-');
  const helper = await useSpawnHelper(HELPER, runDir, () => undefined);
  const rows: Row[] = [];
  try {
    await pullOnce(port, COMPRESSIONS[0] ?? 'gzip'); // warm-up: TLS roots, module code, the helper
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of COMPRESSIONS) {
        const row = await pullOnce(port, c);
        process.stderr.write(`${SHAPE} ${c}: ${row.ms} ms, ELU ${row.elu}, CPU ${row.cpuMs} / ${row.allCpuMs} ms\n`);
        rows.push(row);
      }
    }
  } finally {
    await stopSpawnHelper();
    await rm(runDir, { recursive: true, force: true });
  }
  const md = [
    `# The main thread during a cold pull (${SHAPE})`,
    '',
    `${new Date().toISOString()} · ${machine()} · spawn helper ${helper ? 'on' : 'off'} · unpack helper ${UNPACK_HELPER || 'off'} · ${ROUNDS} rounds after one warm-up pull`,
    '',
    '| compression | wall ms | main-thread ELU | process CPU ms | with tar and zstd, ms | cores busy |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) => `| ${r.compression} | ${r.ms} | ${r.elu} | ${r.cpuMs} | ${r.allCpuMs} | ${round(r.allCpuMs / r.ms, 2)} |`,
    ),
  ].join('\n');
  writeResults('pull-main-thread', { machine: machine(), shape: SHAPE, rows }, md);
  process.stdout.write(md + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
