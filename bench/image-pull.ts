/**
 * Benchmark: cold image pulls through crimux's CRI PullImage (a real daemon) side by side with containerd's CRI
 * PullImage (a private containerd, bench/containerd.ts), same local registry, same freshly built images.
 *
 *   npx tsx bench/image-pull.ts        BENCH_ROUNDS=3 BENCH_SHAPES=one160,four40,small30 BENCH_COMPRESSIONS=gzip,zstd
 *
 * Shapes (bench/image-build.ts): one 160 MiB layer, four 40 MiB layers, 30 small layers of 20 files; random
 * (incompressible) content, gzip and zstd. Every round builds new images, so no pull is helped by an earlier one,
 * and each image is pulled once by each runtime: cold (page cache dropped before every pull), the runtime that goes
 * first alternating. The image is removed again after each pull. Writes bench/results/image-pull.{json,md} with
 * the medians and the ratio crimux / containerd (the target: ≤ 1.1). Not run in CI.
 */
import { execFileSync, execSync } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { startDaemon, type DaemonHandle } from '../test/helpers/daemon';
import type { CriClient } from '../test/helpers/cri-client';
import { buildAndPush, SHAPES, type Compression } from './image-build';
import { startContainerd, type Containerd } from './containerd';
import { cpuMs, machine, quantile, round, writeResults } from './lib';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SHAPE_NAMES = (process.env.BENCH_SHAPES ?? 'one160,four40,small30').split(',');
const COMPRESSIONS = (process.env.BENCH_COMPRESSIONS ?? 'gzip,zstd').split(',') as Compression[];
const PORT = Number(process.env.CRIMUX_TEST_REGISTRY_PORT ?? 5000);
const REGISTRY = `127.0.0.1:${PORT}`;

type Runtime = 'crimux' | 'containerd';

function dropCaches(): void {
  execSync('sync; echo 3 > /proc/sys/vm/drop_caches');
}

async function timedPull(cri: CriClient, pid: number, ref: string): Promise<{ ms: number; cpuMs: number }> {
  dropCaches();
  const cpu0 = cpuMs(pid);
  const t0 = process.hrtime.bigint();
  await cri.img('PullImage', { image: { image: ref } }, { deadlineMs: 600_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = cpuMs(pid) - cpu0;
  await cri.img('RemoveImage', { image: { image: ref } }, { deadlineMs: 120_000 });
  return { ms, cpuMs: cpu };
}

interface Case {
  shape: string;
  compression: Compression;
  compressedBytes: number;
  samplesMs: Record<Runtime, number[]>;
  cpuMs: Record<Runtime, number[]>;
}

async function main(): Promise<void> {
  // crimux as deployed: the compiled daemon, whose unpack workers load plain JS (under tsx each would compile).
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
  const d: DaemonHandle = await startDaemon({
    built: true,
    config: {
      logLevel: 'info',
      backends: { runc: { enabled: true } },
      network: { confDir: '/nonexistent' },
      images: { registries: { [REGISTRY]: { endpoints: [{ url: `http://${REGISTRY}` }] } } },
    },
  });
  let ctr: Containerd | undefined;
  let containerdNote = '';
  try {
    ctr = await startContainerd(REGISTRY);
  } catch (err) {
    containerdNote = `containerd not measured: ${(err as Error).message.split('\n')[0] ?? ''}`;
    process.stderr.write(`${containerdNote}\n`);
  }
  const clients: Partial<Record<Runtime, CriClient>> = { crimux: d.cri, ...(ctr ? { containerd: ctr.cri } : {}) };
  const pids: Record<Runtime, number> = { crimux: d.pid(), containerd: ctr?.pid ?? -1 };
  const cases: Case[] = [];
  try {
    let turn = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of SHAPE_NAMES) {
        const shape = SHAPES[name];
        if (!shape) throw new Error(`unknown shape ${name} (${Object.keys(SHAPES).join(', ')})`);
        for (const compression of COMPRESSIONS) {
          const img = await buildAndPush(PORT, shape, compression);
          let c = cases.find((x) => x.shape === name && x.compression === compression);
          if (!c) {
            c = {
              shape: name,
              compression,
              compressedBytes: img.compressedBytes,
              samplesMs: { crimux: [], containerd: [] },
              cpuMs: { crimux: [], containerd: [] },
            };
            cases.push(c);
          }
          const order: Runtime[] = turn++ % 2 === 0 ? ['crimux', 'containerd'] : ['containerd', 'crimux'];
          const line: string[] = [];
          for (const rt of order) {
            const cri = clients[rt];
            if (!cri) continue;
            const { ms, cpuMs: cpu } = await timedPull(cri, pids[rt], img.ref);
            c.samplesMs[rt].push(round(ms, 1));
            c.cpuMs[rt].push(cpu);
            line.push(`${rt} ${round(ms, 0)} ms (CPU ${cpu} ms)`);
          }
          process.stderr.write(`round ${r + 1}/${ROUNDS} ${name}-${compression}: ${line.join(', ')}\n`);
        }
      }
    }
  } finally {
    await ctr?.stop();
    await d.cleanup();
  }

  const med = (xs: number[]): number => round(quantile(xs, 0.5), 1);
  const results = cases.map((c) => {
    const crimux = med(c.samplesMs.crimux);
    const containerd = c.samplesMs.containerd.length ? med(c.samplesMs.containerd) : NaN;
    const cpu = { crimux: med(c.cpuMs.crimux), containerd: c.cpuMs.containerd.length ? med(c.cpuMs.containerd) : NaN };
    return { ...c, medianMs: { crimux, containerd }, ratio: round(crimux / containerd, 2), medianCpuMs: cpu };
  });
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    rounds: ROUNDS,
    containerd: ctr?.version ?? containerdNote,
    target: 'ratio crimux / containerd ≤ 1.1',
    results,
  };
  const rows = results.map(
    (r) =>
      `| ${r.shape} | ${r.compression} | ${round(r.compressedBytes / 1048576, 1)} | ${r.medianMs.crimux} | ` +
      `${r.medianMs.containerd} | ${r.ratio} | ${r.medianCpuMs.crimux} | ${r.medianCpuMs.containerd} | ` +
      `${r.samplesMs.crimux.join(' / ')} | ${r.samplesMs.containerd.join(' / ')} |`,
  );
  const md = [
    '# Image pulls: crimux vs containerd, cold, over CRI',
    '',
    `${report.date} · ${report.machine} · containerd ${report.containerd} · ${ROUNDS} rounds · load at the end ${os.loadavg()[0]?.toFixed(1)}`,
    '',
    'Fresh images per round (random content), page cache dropped before every pull, who goes first alternating,',
    'each image removed after its pull. Both runtimes download, verify, decompress and unpack every layer and keep',
    'the compressed blobs. Other engineers share the 2 vCPUs: compare the two columns of a row, not runs.',
    'CPU: the runtime process and the children it reaped (tar, zstd; for crimux, reaped by its spawn helper) during the pull, median.',
    '',
    '| shape | compression | MiB | crimux median ms | containerd median ms | ratio | crimux CPU ms | containerd CPU ms | crimux samples | containerd samples |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|---|',
    ...rows,
    '',
  ].join('\n');
  writeResults('image-pull', report, md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
