/**
 * Benchmark: pulling an image through crimux's shared OCI store vs `skopeo copy docker://… oci:DIR` of the same
 * image from the same local registry, alternating which goes first, N rounds, each from an empty store/dir.
 *
 *   npx tsx bench/image-pull.ts                   BENCH_ROUNDS=7 BENCH_IMAGES=layers,large to change
 *
 * Images: "layers" is the multi-layer test fixture (docker.io/crimux/layers:1, ≈1.5 MB: mostly fixed costs);
 * "large" is built once from host files (/usr/lib/python3.11 and /usr/share/doc: many small files, ≈200 MB
 * unpacked) and pushed as docker.io/crimux-bench/large:1, to measure throughput.
 *
 * What is timed: crimux = OciImageStore.pull() in a running process (what the daemon does; it downloads AND
 * unpacks every layer); skopeoOci = the whole `skopeo copy` to an OCI layout (download and verify only, no
 * unpack: the yardstick); skopeoStorage = `skopeo copy` into containers-storage, CRI-O's store, which
 * unpacks like crimux does (the like-for-like comparison).
 * One warm-up round of each is not counted. Writes bench/results/image-pull.json and appends a line to
 * bench/results/image-pull.md. Numbers come from a shared 2-vCPU VM: compare runs on the same machine only.
 */
import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureTestRegistry } from '../test/helpers/registry';
import { LAYERS } from '../test/fixtures/images';
import { OciImageStore } from '../src/images/store';
import { nullLogger } from '../src/log/logger';
import { Metrics } from '../src/metrics/metrics';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const IMAGES = (process.env.BENCH_IMAGES ?? 'layers,large').split(',');
const OUT = path.join(__dirname, 'results');
const LARGE = {
  ref: 'docker.io/crimux-bench/large:1',
  local: 'crimux-bench/large:1',
  dirs: ['usr/lib/python3.11', 'usr/share/doc'],
};

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 64 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

async function registryHas(port: number, local: string): Promise<boolean> {
  const [repo, tag] = local.split(':');
  const res = await fetch(`http://127.0.0.1:${port}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return res.ok;
}

/** Builds the large image from host dirs with umoci (one layer per dir) and pushes it, unless already there. */
async function ensureLarge(port: number): Promise<void> {
  if (await registryHas(port, LARGE.local)) return;
  const work = await mkdtemp(path.join(os.tmpdir(), 'crimux-bench-large-'));
  try {
    const layout = `${path.join(work, 'oci')}:large`;
    await run('umoci', ['init', '--layout', path.join(work, 'oci')]);
    await run('umoci', ['new', '--image', layout]);
    for (const [i, dir] of LARGE.dirs.entries()) {
      const tar = path.join(work, `layer-${i}.tar`);
      await run('tar', ['-C', '/', '--numeric-owner', '-cf', tar, dir]);
      await run('umoci', ['raw', 'add-layer', '--image', layout, tar]);
      await rm(tar);
    }
    await run('umoci', ['config', '--image', layout, '--config.cmd', '/bin/sh']);
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}`,
      `docker://127.0.0.1:${port}/${LARGE.local}`,
    ]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function timeCrimux(port: number, ref: string): Promise<{ ms: number; bytes: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crimux-bench-store-'));
  const metrics = new Metrics({ processMetrics: false });
  const store = new OciImageStore({
    root: path.join(dir, 'images'),
    registries: { '*': { endpoints: [{ url: `http://127.0.0.1:${port}` }] } },
    pullTimeoutSeconds: 600,
    log: nullLogger(),
    metrics,
  });
  try {
    await store.start();
    const t0 = process.hrtime.bigint();
    await store.pull({ signal: AbortSignal.timeout(600_000), log: nullLogger() }, { image: ref });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const bytes = (await metrics.imagePullBytes.get()).values[0]?.value ?? 0;
    return { ms, bytes };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

type Tool = 'crimux' | 'skopeoOci' | 'skopeoStorage';

/** skopeo copy into an OCI layout (download and verify only) or into containers-storage (CRI-O's store: unpacks). */
async function timeSkopeo(port: number, local: string, dest: 'oci' | 'storage'): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crimux-bench-skopeo-'));
  const target =
    dest === 'oci' ? `oci:${dir}/oci:bench` : `containers-storage:[overlay@${dir}/root+${dir}/run]bench/${local}`;
  try {
    const t0 = process.hrtime.bigint();
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://127.0.0.1:${port}/${local}`, target]);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    // containers/storage leaves a private bind mount of its overlay dir behind.
    if (dest === 'storage') await run('umount', ['-R', `${dir}/root/overlay`]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

async function timeTool(port: number, tool: Tool, ref: string, local: string): Promise<number> {
  if (tool === 'crimux') return (await timeCrimux(port, ref)).ms;
  return timeSkopeo(port, local, tool === 'skopeoOci' ? 'oci' : 'storage');
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};
const r1 = (n: number): number => Math.round(n * 10) / 10;

async function benchImage(port: number, name: string, ref: string, local: string): Promise<Record<string, unknown>> {
  const tools: Tool[] = ['crimux', 'skopeoOci', 'skopeoStorage'];
  // Warm-up (not counted): page cache, registry, JIT.
  const warm = await timeCrimux(port, ref);
  for (const t of tools.slice(1)) await timeTool(port, t, ref, local);
  const samples: Record<Tool, number[]> = { crimux: [], skopeoOci: [], skopeoStorage: [] };
  for (let i = 0; i < ROUNDS; i++) {
    // Rotate who goes first so none always gets the warmest cache or the quietest moment.
    const order = tools.map((_, k) => tools[(i + k) % tools.length] as Tool);
    for (const t of order) samples[t].push(await timeTool(port, t, ref, local));
    const line = tools.map((t) => `${t} ${r1(samples[t][i] ?? 0)} ms`).join(', ');
    process.stderr.write(`${name} round ${i + 1}/${ROUNDS}: ${line}\n`);
  }
  const med = (t: Tool): number => median(samples[t]);
  const mib = warm.bytes / 1048576;
  return {
    image: ref,
    compressedBytes: warm.bytes,
    samplesMs: Object.fromEntries(tools.map((t) => [t, samples[t].map(r1)])),
    medianMs: Object.fromEntries(tools.map((t) => [t, r1(med(t))])),
    MiBps: Object.fromEntries(tools.map((t) => [t, r1(mib / (med(t) / 1000))])),
    /** The target (≤ 1.5): crimux pull+unpack vs skopeo copy to an OCI layout (no unpack). */
    ratio: Math.round((med('crimux') / med('skopeoOci')) * 100) / 100,
    /** Like for like: both download, verify and unpack (containers-storage is CRI-O's store). */
    ratioVsUnpacking: Math.round((med('crimux') / med('skopeoStorage')) * 100) / 100,
  };
}

async function main(): Promise<void> {
  const { port } = await ensureTestRegistry();
  const results: Record<string, unknown>[] = [];
  for (const name of IMAGES) {
    if (name === 'layers') results.push({ name, ...(await benchImage(port, name, LAYERS.ref, LAYERS.local)) });
    else if (name === 'large') {
      await ensureLarge(port);
      results.push({ name, ...(await benchImage(port, name, LARGE.ref, LARGE.local)) });
    } else throw new Error(`unknown bench image "${name}" (layers, large)`);
  }
  const skopeoVersion = (await run('skopeo', ['--version'])).trim();
  const report = {
    date: new Date().toISOString(),
    rounds: ROUNDS,
    host: `${os.cpus().length} vCPU, ${os.release()}`,
    skopeoVersion,
    target: 'ratio ≤ 1.5',
    results,
  };
  await mkdir(OUT, { recursive: true });
  await writeFile(path.join(OUT, 'image-pull.json'), JSON.stringify(report, null, 2) + '\n');
  const line = results
    .map((r) => {
      const m = r.medianMs as Record<Tool, number>;
      return (
        `${String(r.name)}: crimux ${m.crimux} ms, skopeo→oci ${m.skopeoOci} ms (ratio ${String(r.ratio)}), ` +
        `skopeo→containers-storage ${m.skopeoStorage} ms (ratio ${String(r.ratioVsUnpacking)})`
      );
    })
    .join('; ');
  const load = os.loadavg()[0]?.toFixed(1) ?? '?';
  await appendFile(
    path.join(OUT, 'image-pull.md'),
    `- ${report.date} (${ROUNDS} rounds, medians, load ${load}): ${line}\n`,
  );
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
