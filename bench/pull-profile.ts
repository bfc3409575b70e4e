/**
 * Where a pull spends its time: each stage of crimux's layer pipeline timed on its own over the same fresh
 * 160 MiB gzip layer (bench/image-build.ts), cold where the disk matters, then the whole pull (OciImageStore in
 * this process). The stages overlap in the real pipeline (download, hashing and inflate on the event loop and the
 * thread pool, tar in its own process), so the whole is less than the sum. Writes bench/results/image-pull-profile.md.
 *
 *   npx tsx bench/pull-profile.ts
 */
import { execSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gunzipSync } from 'node:zlib';
import { OciImageStore } from '../src/images/store';
import { nullLogger } from '../src/log/logger';
import { Metrics } from '../src/metrics/metrics';
import { buildAndPush, SHAPES } from './image-build';
import { machine, round, RESULTS } from './lib';

const PORT = Number(process.env.CRIMUX_TEST_REGISTRY_PORT ?? 5000);
const rows: [string, number, string][] = [];

function cold(): void {
  execSync('sync; echo 3 > /proc/sys/vm/drop_caches');
}

async function timed(stage: string, note: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = process.hrtime.bigint();
  await fn();
  rows.push([stage, round(Number(process.hrtime.bigint() - t0) / 1e6, 0), note]);
  process.stderr.write(`${stage}: ${rows.at(-1)?.[1]} ms\n`);
}

function get(url: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => http.get(url, resolve).on('error', reject));
}

async function main(): Promise<void> {
  const img = await buildAndPush(PORT, SHAPES.one160 as NonNullable<typeof SHAPES.one160>, 'gzip');
  const [repo, tag] = img.ref.slice(`127.0.0.1:${PORT}/`.length).split(':') as [string, string];
  const manifest = (await (
    await fetch(`http://127.0.0.1:${PORT}/v2/${repo}/manifests/${tag}`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
  ).json()) as { layers: { digest: string }[] };
  const blobUrl = `http://127.0.0.1:${PORT}/v2/${repo}/blobs/${manifest.layers[0]?.digest ?? ''}`;
  const chunks: Buffer[] = [];
  cold();
  await timed('download (cold registry disk), to memory', 'HTTP over loopback', async () => {
    for await (const c of await get(blobUrl)) chunks.push(c as Buffer);
  });
  await timed('download (warm), discarded', 'the registry from page cache', async () => {
    for await (const _ of await get(blobUrl)) void _;
  });
  const blob = Buffer.concat(chunks);
  await timed('sha256 of the compressed blob', 'event loop', () => {
    createHash('sha256').update(blob).digest();
    return Promise.resolve();
  });
  for (const chunkSize of [16 << 10, 1 << 20]) {
    await timed(`inflate, ${chunkSize >> 10} KiB output chunks`, 'zlib on the thread pool', async () => {
      const g = createGunzip({ chunkSize });
      const done = pipeline(g, new Writable({ write: (_c, _e, cb) => cb() }));
      for (const c of chunks) if (!g.write(c)) await new Promise((r) => g.once('drain', r));
      g.end();
      await done;
    });
  }
  const tar = gunzipSync(blob);
  await timed('sha256 of the uncompressed stream (diff ID)', 'event loop', () => {
    createHash('sha256').update(tar).digest();
    return Promise.resolve();
  });
  const dir = await mkdtemp('/var/tmp/crimux-profile-');
  try {
    const fh = await open(path.join(dir, 'blob'), 'w');
    await timed('write the blob file', 'page cache', async () => {
      for (const c of chunks) await fh.write(c);
    });
    await timed('fdatasync of the blob (removed: blobs are verified on read)', 'disk', () => fh.datasync());
    await fh.close();
    await writeFile(path.join(dir, 'layer.tar'), tar);
    execSync(`mkdir ${dir}/x`);
    await timed('tar -x of the layer, fed through a pipe', 'GNU tar process', async () => {
      await new Promise<void>((resolve, reject) => {
        const c = spawn('tar', ['-C', `${dir}/x`, '--same-owner', '--numeric-owner', '-x', '-f', '-'], {
          stdio: ['pipe', 'ignore', 'inherit'],
        });
        c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar ${code}`))));
        c.stdin.end(tar);
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  for (let i = 0; i < 2; i++) {
    const root = await mkdtemp('/var/tmp/crimux-profile-store-');
    const store = new OciImageStore({
      root: path.join(root, 'images'),
      registries: { '*': { endpoints: [{ url: `http://127.0.0.1:${PORT}` }] } },
      pullTimeoutSeconds: 600,
      log: nullLogger(),
      metrics: new Metrics({ processMetrics: false }),
    });
    await store.start();
    cold();
    await timed(`whole pull (OciImageStore), cold, #${i + 1}`, 'all stages overlapped', () =>
      store.pull({ signal: AbortSignal.timeout(600_000), log: nullLogger() }, { image: img.ref }),
    );
    await store.close();
    await rm(root, { recursive: true, force: true });
  }
  const md = [
    '# Where a 160 MiB cold pull spends its time',
    '',
    `${new Date().toISOString()} · ${machine()}`,
    '',
    'One fresh layer of 160 MiB random data (gzip), each stage timed alone. The real pipeline overlaps them.',
    '',
    '| stage | ms | where |',
    '|---|---:|---|',
    ...rows.map(([s, ms, n]) => `| ${s} | ${ms} | ${n} |`),
    '',
  ].join('\n');
  await writeFile(path.join(RESULTS, 'image-pull-profile.md'), md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
