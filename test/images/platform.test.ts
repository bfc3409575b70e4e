import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  compatiblePlatforms,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformRank,
} from '../../src/images/platform';
import { MEDIA, selectPlatform } from '../../src/images/manifest';
import { InvalidArgumentError, NotFoundError } from '../../src/errors';

const dg = (c: string): string => `sha256:${c.repeat(64)}`;
type P = { os?: string; architecture?: string; variant?: string };
const indexOf = (platforms: (P | undefined)[]): Buffer =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: platforms.map((platform, i) => ({
        mediaType: MEDIA.ociManifest,
        digest: dg(i.toString(16)),
        size: 10,
        ...(platform ? { platform } : {}),
      })),
    }),
  );
const pick = (platforms: (P | undefined)[], node: string): number => {
  const d = selectPlatform(indexOf(platforms), 'img', parsePlatform(node)).digest;
  return parseInt(d.slice(-1), 16);
};

// A real multi-arch index (busybox-like), with an attestation manifest as BuildKit writes them.
const MULTI: P[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm', variant: 'v5' },
  { os: 'linux', architecture: 'arm', variant: 'v6' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: '386' },
  { os: 'linux', architecture: 'ppc64le' },
  { os: 'linux', architecture: 's390x' },
  { os: 'linux', architecture: 'riscv64' },
  { os: 'unknown', architecture: 'unknown' },
];

describe('node platform', () => {
  it('maps Node process.arch to the GOARCH names indexes use, with the variant containerd reports', () => {
    assert.deepEqual(hostPlatform('x64', 'linux'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(hostPlatform('arm64', 'linux'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(hostPlatform('arm', 'linux', '7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(hostPlatform('arm', 'linux', '6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
    assert.deepEqual(hostPlatform('arm', 'linux', undefined), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(hostPlatform('ia32', 'linux'), { os: 'linux', architecture: '386' });
    assert.deepEqual(hostPlatform('ppc64', 'linux', undefined, 'LE'), { os: 'linux', architecture: 'ppc64le' });
    assert.deepEqual(hostPlatform('ppc64', 'linux', undefined, 'BE'), { os: 'linux', architecture: 'ppc64' });
    assert.deepEqual(hostPlatform('s390x', 'linux'), { os: 'linux', architecture: 's390x' });
    assert.deepEqual(hostPlatform('riscv64', 'linux'), { os: 'linux', architecture: 'riscv64' });
    assert.deepEqual(hostPlatform('mipsel', 'linux'), { os: 'linux', architecture: 'mipsle' });
    assert.deepEqual(hostPlatform('x64', 'win32'), { os: 'windows', architecture: 'amd64' });
    // This process: whatever it runs on, never a hard-coded amd64 elsewhere.
    const own = hostPlatform();
    assert.equal(own.architecture, process.arch === 'x64' ? 'amd64' : own.architecture);
    assert.equal(own.os, 'linux');
  });

  it('parses and formats os/architecture[/variant]; refuses anything else', () => {
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform(' Linux/AMD64 '), { os: 'linux', architecture: 'amd64' });
    assert.equal(formatPlatform(parsePlatform('linux/arm/v7')), 'linux/arm/v7');
    for (const bad of ['', 'linux', 'amd64/', 'linux/arm/v7/x', 'linux//v7', 'linux/a b'])
      assert.throws(() => parsePlatform(bad), InvalidArgumentError, bad);
  });

  it('normalises spellings of one platform as containerd does', () => {
    const n = (os: string, architecture: string, variant?: string): string =>
      formatPlatform(normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) }));
    assert.equal(n('linux', 'aarch64'), 'linux/arm64');
    assert.equal(n('linux', 'arm64', 'v8'), 'linux/arm64');
    assert.equal(n('linux', 'arm64', '8'), 'linux/arm64');
    assert.equal(n('linux', 'x86_64'), 'linux/amd64');
    assert.equal(n('linux', 'amd64', 'v1'), 'linux/amd64');
    assert.equal(n('linux', 'amd64', 'v3'), 'linux/amd64/v3');
    assert.equal(n('linux', 'arm'), 'linux/arm/v7');
    assert.equal(n('linux', 'armhf'), 'linux/arm/v7');
    assert.equal(n('linux', 'armel'), 'linux/arm/v6');
    assert.equal(n('linux', 'i386'), 'linux/386');
  });

  it('lists what a node also runs, best first', () => {
    const c = (p: string): string[] => compatiblePlatforms(parsePlatform(p)).map(formatPlatform);
    assert.deepEqual(c('linux/amd64'), ['linux/amd64', 'linux/386']);
    assert.deepEqual(c('linux/amd64/v3'), ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']);
    assert.deepEqual(c('linux/arm64/v8'), [
      'linux/arm64',
      'linux/arm/v8',
      'linux/arm/v7',
      'linux/arm/v6',
      'linux/arm/v5',
    ]);
    assert.deepEqual(c('linux/arm/v7'), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
    assert.deepEqual(c('linux/s390x'), ['linux/s390x']);
  });
});

describe('platform selection from an index', () => {
  it('picks the node’s own entry on each architecture', () => {
    assert.equal(pick(MULTI, 'linux/amd64'), 0);
    assert.equal(pick(MULTI, 'linux/arm64/v8'), 4);
    assert.equal(pick(MULTI, 'linux/arm/v7'), 3);
    assert.equal(pick(MULTI, 'linux/arm/v6'), 2);
    assert.equal(pick(MULTI, 'linux/386'), 5);
    assert.equal(pick(MULTI, 'linux/ppc64le'), 6);
    assert.equal(pick(MULTI, 'linux/s390x'), 7);
  });

  it('matches arm64 entries with or without the v8 variant, and aarch64', () => {
    assert.equal(
      pick(
        [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm64' },
        ],
        'linux/arm64/v8',
      ),
      1,
    );
    assert.equal(pick([{ os: 'linux', architecture: 'aarch64' }], 'linux/arm64/v8'), 0);
    assert.equal(pick([{ os: 'linux', architecture: 'arm64', variant: 'v8' }], 'linux/arm64'), 0);
  });

  it('prefers an exact match over a fallback wherever it sits in the index', () => {
    const fallbackFirst: P[] = [
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'arm64' },
    ];
    assert.equal(pick(fallbackFirst, 'linux/arm64/v8'), 1);
    assert.equal(
      pick(
        [
          { os: 'linux', architecture: '386' },
          { os: 'linux', architecture: 'amd64' },
        ],
        'linux/amd64',
      ),
      1,
    );
  });

  it('falls back as containerd does: arm64 → 32-bit arm, amd64 → 386, arm/v7 → v6', () => {
    assert.equal(
      pick(
        [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm', variant: 'v6' },
          { os: 'linux', architecture: 'arm', variant: 'v7' },
        ],
        'linux/arm64/v8',
      ),
      2,
    );
    assert.equal(
      pick(
        [
          { os: 'linux', architecture: 'arm64' },
          { os: 'linux', architecture: '386' },
        ],
        'linux/amd64',
      ),
      1,
    );
    assert.equal(
      pick(
        [
          { os: 'linux', architecture: 'arm', variant: 'v6' },
          { os: 'linux', architecture: 'arm', variant: 'v5' },
        ],
        'linux/arm/v7',
      ),
      0,
    );
  });

  it('never picks another OS, an entry without a platform, an attestation, or a newer variant', () => {
    const amd = parsePlatform('linux/amd64');
    assert.equal(platformRank(amd, { os: 'windows', architecture: 'amd64' }), undefined);
    assert.equal(platformRank(amd, undefined), undefined);
    assert.equal(platformRank(amd, { os: 'unknown', architecture: 'unknown' }), undefined);
    assert.equal(platformRank(amd, { os: 'linux', architecture: 'amd64', variant: 'v3' }), undefined);
    assert.equal(
      platformRank(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v7' }),
      undefined,
    );
    assert.throws(
      () =>
        selectPlatform(
          indexOf([{ os: 'linux', architecture: 'amd64' }, undefined]),
          'img',
          parsePlatform('linux/arm64/v8'),
        ),
      (err: unknown) => {
        assert.ok(err instanceof NotFoundError);
        assert.match(err.message, /no manifest for linux\/arm64\/v8 in the index \(has: linux\/amd64, \?\/\?\)/);
        return true;
      },
    );
  });

  it('ignores non-string platform fields a registry might send', () => {
    const body = Buffer.from(
      JSON.stringify({
        manifests: [
          { mediaType: MEDIA.ociManifest, digest: dg('0'), size: 1, platform: { os: 7, architecture: ['amd64'] } },
          { mediaType: MEDIA.ociManifest, digest: dg('1'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    assert.equal(selectPlatform(body, 'img', parsePlatform('linux/amd64')).digest, dg('1'));
  });
});
