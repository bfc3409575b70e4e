/** Pure rules: auth challenges, manifest kinds and platform selection, image lookups and CRI views. */
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenge } from '../../src/images/auth';
import {
  MEDIA,
  layerCompression,
  manifestKind,
  parseConfig,
  parseManifest,
  selectPlatform,
} from '../../src/images/manifest';
import { findImage, imageConfigOf, toCriImage, userOf, verboseInfo } from '../../src/images/image-view';
import { chainId, type ImageRecord } from '../../src/images/metadata';
import { NotFoundError, UnimplementedError, InvalidArgumentError } from '../../src/errors';

const hex = (c: string): string => c.repeat(64);
const dg = (c: string): string => `sha256:${hex(c)}`;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('WWW-Authenticate challenges', () => {
  it('parses Bearer with quoted params and Basic', () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
      ),
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
      },
    );
    assert.deepEqual(parseChallenge('Basic realm="x y"'), { scheme: 'basic', params: { realm: 'x y' } });
    assert.deepEqual(parseChallenge('Bearer realm=https://a/t, service=s'), {
      scheme: 'bearer',
      params: { realm: 'https://a/t', service: 's' },
    });
  });
});

describe('manifests', () => {
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [
      { mediaType: MEDIA.ociManifest, digest: dg('1'), size: 10, platform: { os: 'linux', architecture: 'arm64' } },
      {
        mediaType: MEDIA.ociManifest,
        digest: dg('2'),
        size: 10,
        platform: { os: 'linux', architecture: 'amd64', variant: 'v3' },
      },
      { mediaType: MEDIA.ociManifest, digest: dg('3'), size: 10, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MEDIA.ociManifest, digest: dg('4'), size: 10, platform: { os: 'windows', architecture: 'amd64' } },
    ],
  };

  it('tells indexes from manifests by content type, mediaType or shape; refuses schema 1', () => {
    assert.equal(manifestKind(MEDIA.dockerList, json({ manifests: [] })), 'index');
    assert.equal(manifestKind('application/json', json(index)), 'index');
    assert.equal(manifestKind(undefined, json({ schemaVersion: 2, config: {}, layers: [] })), 'manifest');
    assert.equal(manifestKind(MEDIA.dockerManifest, json({})), 'manifest');
    assert.throws(() => manifestKind(MEDIA.dockerSchema1, json({ schemaVersion: 1 })), UnimplementedError);
    assert.throws(() => manifestKind('text/html', Buffer.from('<html>')), InvalidArgumentError);
  });

  it('selects linux/amd64 on an amd64 node, not a variant it may lack; NotFound lists what there is', () => {
    const amd64 = { os: 'linux', architecture: 'amd64' };
    assert.equal(selectPlatform(json(index), 'x', amd64).digest, dg('3'));
    const armOnly = { ...index, manifests: [index.manifests[0]] };
    assert.throws(
      () => selectPlatform(json(armOnly), 'x', amd64),
      (err: unknown) => {
        assert.ok(err instanceof NotFoundError);
        assert.match(err.message, /linux\/arm64/);
        return true;
      },
    );
  });

  it('validates descriptors and diff IDs', () => {
    const layer = { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: dg('5'), size: 3 };
    const m = parseManifest(json({ config: { mediaType: 'x', digest: dg('6'), size: 2 }, layers: [layer] }));
    assert.equal(m.layers[0]?.digest, dg('5'));
    assert.throws(
      () => parseManifest(json({ config: { digest: 'md5:x', size: 1 }, layers: [] })),
      InvalidArgumentError,
    );
    assert.throws(
      () => parseManifest(json({ config: { digest: dg('6'), size: -1 }, layers: [] })),
      InvalidArgumentError,
    );
    assert.throws(() => parseConfig(json({ rootfs: { type: 'layers', diff_ids: [] } }), 1), /0 diff IDs for 1 layers/);
    assert.equal(parseConfig(json({ rootfs: { type: 'layers', diff_ids: [dg('7')] } }), 1).rootfs.diff_ids[0], dg('7'));
  });

  it('knows layer compressions', () => {
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar'), 'none');
    assert.throws(() => layerCompression('application/vnd.oci.image.layer.v1.tar+gzip+encrypted'), UnimplementedError);
  });
});

function record(id: string, tags: string[], digests: string[], user?: string): ImageRecord {
  return {
    version: 1,
    id,
    repoTags: tags,
    repoDigests: digests,
    size: 1234,
    config: {
      config: { User: user, Env: ['A=1'], Cmd: ['sh'], ExposedPorts: { '80/tcp': {} } },
      rootfs: { type: 'layers', diff_ids: [dg('d')] },
    },
    diffIds: [dg('d')],
    chainId: chainId([dg('d')]),
    blobs: [],
    pulledAt: '2024-01-01T00:00:00Z',
  };
}

describe('image views', () => {
  const a = record(
    `sha256:ab${'0'.repeat(62)}`,
    ['docker.io/library/busybox:1.36'],
    [`docker.io/library/busybox@${dg('e')}`],
    '33',
  );
  const b = record(`sha256:ac${'0'.repeat(62)}`, ['registry.k8s.io/pause:3.9'], [], 'www-data:www-data');
  const all = [a, b];

  it('finds by full ID, tag (normalised), digest reference and unique ID prefix', () => {
    assert.equal(findImage(all, a.id), a);
    assert.equal(findImage(all, 'busybox:1.36'), a);
    assert.equal(findImage(all, 'docker.io/library/busybox:1.36'), a);
    assert.equal(findImage(all, `busybox@${dg('e')}`), a);
    assert.equal(findImage(all, 'ab'), a);
    assert.equal(findImage(all, 'sha256:ac'), b);
    assert.equal(findImage(all, 'a'), undefined, 'ambiguous prefix');
    assert.equal(findImage(all, 'busybox'), undefined, 'busybox:latest is not pulled');
    assert.equal(findImage(all, 'Not A Ref!'), undefined);
  });

  it('reports uid for numeric users and username otherwise, like containerd', () => {
    assert.deepEqual(userOf('33'), { uid: '33' });
    assert.deepEqual(userOf('65535:65535'), { uid: '65535' });
    assert.deepEqual(userOf('www-data:www-data'), { username: 'www-data' });
    assert.deepEqual(userOf(''), {});
    assert.deepEqual(userOf(undefined), {});
    assert.deepEqual(userOf('99999999999999999999'), { username: '99999999999999999999' });
    assert.deepEqual(toCriImage(a, false), {
      id: a.id,
      repo_tags: a.repoTags,
      repo_digests: a.repoDigests,
      size: '1234',
      uid: { value: '33' },
      username: '',
      pinned: false,
    });
    const cb = toCriImage(b, true);
    assert.equal(cb.uid, undefined);
    assert.equal(cb.username, 'www-data');
    assert.equal(cb.pinned, true);
  });

  it('gives verbose info with the image config and the container defaults', () => {
    const info = JSON.parse(verboseInfo(a).info ?? '{}') as {
      chainID: string;
      imageSpec: { config: { User: string } };
    };
    assert.equal(info.chainID, dg('d'));
    assert.equal(info.imageSpec.config.User, '33');
    assert.deepEqual(imageConfigOf(a), { user: '33', env: ['A=1'], cmd: ['sh'], exposedPorts: ['80/tcp'] });
  });

  it('computes OCI chain IDs', () => {
    assert.equal(chainId([]), '');
    assert.equal(chainId([dg('1')]), dg('1'));
    // chainID(L0|L1) = sha256(chainID(L0) + " " + diffID(L1))
    const want = createHash('sha256')
      .update(`${dg('1')} ${dg('2')}`)
      .digest('hex');
    assert.equal(chainId([dg('1'), dg('2')]), `sha256:${want}`);
  });
});
