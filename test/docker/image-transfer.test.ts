/**
 * Image transfer from the shared store into Docker's, over the fake engine: the archive is a docker-archive whose
 * config bytes give the same image ID, tags are the kubelet's names, concurrent creates share one transfer, a
 * digest that does not come back is refused, and an image neither store has is NotFound naming the fix.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImageTransfer, tagsOf } from '../../src/backends/docker/image-transfer';
import { DockerImageStore } from '../../src/backends/docker/images';
import type { ExportedImage, ImageExporter } from '../../src/images/export';
import { tarHeader } from '../../src/backends/docker/image-archive';
import { FakeEngine } from './fake-engine';
import { ctx, testLogger } from './env';
import { createBackendHost } from '../../src/backends/default-host';

const log = testLogger();
const execFileP = promisify(execFile);
const digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A stored image: two gzip-named layer blobs in files, a config, a manifest. */
async function makeImage(dir: string, label: string): Promise<ExportedImage> {
  const layers = await Promise.all(
    ['a', 'b'].map(async (n) => {
      const body = Buffer.from(`layer ${n} of ${label}`);
      const file = path.join(dir, `${label}-${n}`);
      await fs.writeFile(file, body);
      return {
        descriptor: {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: digest(body),
          size: body.length,
        },
        path: file,
      };
    }),
  );
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { label } },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { digest: digest(config), size: config.length },
      layers: layers.map((l) => l.descriptor),
    }),
  );
  return {
    id: digest(config),
    manifestDigest: digest(manifest),
    manifest,
    config,
    layers,
    repoTags: [`docker.io/crimux/${label}:1`],
    repoDigests: [`docker.io/crimux/${label}@${digest(manifest)}`],
  };
}

class FakeExporter implements ImageExporter {
  readonly images: ExportedImage[] = [];
  exportImage(ref: string): Promise<ExportedImage | undefined> {
    return Promise.resolve(
      this.images.find((i) => i.id === ref || i.repoTags.includes(ref) || i.repoDigests.includes(ref)),
    );
  }
}

describe('image transfer into docker', () => {
  let dir: string;
  let engine: FakeEngine;
  let source: FakeExporter;
  let transfer: ImageTransfer;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-transfer-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const setup = (): void => {
    engine = new FakeEngine();
    source = new FakeExporter();
    const images = new DockerImageStore(engine, {}, 'registry.k8s.io/pause:3.9', createBackendHost().clock, undefined);
    transfer = new ImageTransfer({ engine, images, source, timeoutMs: 10_000, log });
  };

  it('loads a docker-archive whose image ID is the config digest, tagged with the name the kubelet used', async () => {
    setup();
    const img = await makeImage(dir, 'one');
    source.images.push(img);
    const got = await transfer.resolve(ctx(log), img.id, [img.id, 'crimux/one:1']);
    assert.equal(got.inspect.Id, img.id);
    assert.equal(got.imageRef, img.repoDigests[0], 'image_ref is the digest the shared store pulled');
    assert.equal(engine.loads.length, 1);
    const load = engine.loads[0]!;
    assert.deepEqual(load.tags, ['docker.io/crimux/one:1']);
    assert.deepEqual(
      load.layers,
      img.layers.map((l) => `blobs/sha256/${l.descriptor.digest.slice(7)}`),
    );
    // Also an OCI image layout, for dockerd 25+ and containerd-backed stores.
    for (const f of ['oci-layout', 'index.json', `blobs/sha256/${img.manifestDigest.slice(7)}`])
      assert.ok(load.files.includes(f), f);
  });

  it('transfers once when two creates of the same image overlap, and tags what each asked for', async () => {
    setup();
    const img = await makeImage(dir, 'two');
    source.images.push(img);
    engine.loadDelayMs = 200;
    const [a, b] = await Promise.all([
      transfer.resolve(ctx(log), img.id, [img.id, 'crimux/two:1']),
      transfer.resolve(ctx(log), img.id, [img.id, 'crimux/two:latest']),
    ]);
    assert.equal(a.inspect.Id, img.id);
    assert.equal(b.inspect.Id, img.id);
    assert.equal(engine.loads.length, 1, 'one transfer');
    const tags = (await engine.inspectImage(img.id)).RepoTags ?? [];
    assert.ok(tags.includes('docker.io/crimux/two:1') && tags.includes('docker.io/crimux/two:latest'), tags.join());
    // A later create finds it in Docker: no second load.
    await transfer.resolve(ctx(log), 'docker.io/crimux/two:1', ['docker.io/crimux/two:1']);
    assert.equal(engine.loads.length, 1);
  });

  it('keeps the shared store names when the kubelet asked by ID only (no dangling image)', async () => {
    setup();
    const img = await makeImage(dir, 'three');
    source.images.push(img);
    await transfer.resolve(ctx(log), img.id, [img.id, '']);
    assert.deepEqual(engine.loads[0]?.tags, ['docker.io/crimux/three:1']);
  });

  it('refuses a load that does not yield the exported image ID', async () => {
    setup();
    const img = await makeImage(dir, 'four');
    source.images.push({ ...img, id: `sha256:${'e'.repeat(64)}` });
    await assert.rejects(transfer.resolve(ctx(log), img.repoTags[0]!, [img.repoTags[0]!]), (e: Error) => {
      assert.equal(e.name, 'InternalError');
      assert.match(e.message, /after the load docker has/);
      return true;
    });
  });

  it('fails the load when a blob is gone, and says NotFound when neither store has the image', async () => {
    setup();
    const img = await makeImage(dir, 'five');
    await fs.rm(img.layers[1]!.path);
    source.images.push(img);
    await assert.rejects(transfer.resolve(ctx(log), img.id, [img.id]));
    assert.equal(engine.loads.length, 0);
    await assert.rejects(transfer.resolve(ctx(log), 'docker.io/crimux/none:1', []), (e: Error) => {
      assert.equal(e.name, 'NotFoundError');
      assert.match(e.message, /neither docker's store nor the shared store has it \(pull it first\)/);
      return true;
    });
  });

  it('sends zstd layers decompressed (dockerd 20.10 reads no zstd), as a docker-archive only', async () => {
    setup();
    const img = await makeImage(dir, 'zstd');
    const plain = Buffer.from('a layer that was zstd-compressed');
    const raw = path.join(dir, 'zstd-layer');
    await fs.writeFile(raw, plain);
    await execFileP('zstd', ['-q', '-f', raw, '-o', `${raw}.zst`]);
    const zst = await fs.readFile(`${raw}.zst`);
    const layer = {
      descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: digest(zst), size: zst.length },
      path: `${raw}.zst`,
    };
    source.images.push({ ...img, layers: [img.layers[0]!, layer] });
    await transfer.resolve(ctx(log), img.id, [img.id]);
    const load = engine.loads[0]!;
    const name = `layers/${digest(zst).slice(7)}.tar`;
    assert.deepEqual(load.layers, [`blobs/sha256/${img.layers[0]!.descriptor.digest.slice(7)}`, name]);
    assert.deepEqual(engine.loadedFiles.get(name), plain);
    assert.ok(!load.files.includes('index.json'), 'no OCI layout claimed for rewritten layers');
  });

  it('tags only name:tag references', () => {
    assert.deepEqual(
      tagsOf(['sha256:' + 'a'.repeat(64), 'busybox', 'busybox@sha256:' + 'b'.repeat(64), 'b1acc35a1234', '']),
      ['docker.io/library/busybox:latest'],
    );
  });

  it('writes ustar headers tar can read', () => {
    const h = tarHeader('blobs/sha256/' + 'c'.repeat(64), 1234);
    assert.equal(h.length, 512);
    assert.equal(h.subarray(257, 262).toString(), 'ustar');
    assert.equal(parseInt(h.subarray(124, 135).toString(), 8), 1234);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    assert.equal(parseInt(h.subarray(148, 154).toString(), 8), sum);
  });
});
