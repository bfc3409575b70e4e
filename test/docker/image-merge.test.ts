/**
 * The merged image view the kubelet's image GC reads: one entry per image ID across the shared store and
 * Docker's (names united, both copies' bytes as size), and image filesystems on one device reported as one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { mergeFilesystems, mergeImages } from '../../src/router/image-merge';

const ID = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;

describe('merged image view', () => {
  it('lists an image held by both stores once, with every name and both sizes', () => {
    const merged = mergeImages([
      {
        handler: '',
        images: [
          {
            id: ID,
            repo_tags: ['docker.io/library/busybox:1.36'],
            repo_digests: ['docker.io/library/busybox@sha256:1'],
            size: '100',
            pinned: false,
          },
        ],
      },
      {
        handler: 'docker',
        images: [
          {
            id: ID,
            repo_tags: ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:x'],
            repo_digests: [],
            size: '150',
            pinned: true,
          },
          { id: OTHER, repo_tags: ['docker.io/library/other:1'], repo_digests: [], size: '7' },
        ],
      },
    ]);
    assert.equal(merged.length, 2);
    const one = merged.find((i) => i.id === ID);
    assert.deepEqual(one?.repo_tags, ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:x']);
    assert.deepEqual(one?.repo_digests, ['docker.io/library/busybox@sha256:1']);
    assert.equal(one?.size, '250');
    assert.equal(one?.pinned, true);
    assert.equal(one?.spec?.runtime_handler, '', 'reported under the first store that has it');
    assert.equal(merged.find((i) => i.id === OTHER)?.spec?.runtime_handler, 'docker');
  });

  it('sums image filesystems on one device into the first entry and keeps others apart', async () => {
    const usage = (mountpoint: string, bytes: string, inodes?: string) => ({
      timestamp: '1',
      fs_id: { mountpoint },
      used_bytes: { value: bytes },
      ...(inodes ? { inodes_used: { value: inodes } } : {}),
    });
    const tmp = os.tmpdir();
    const merged = await mergeFilesystems([
      usage(tmp, '10', '2'),
      usage(tmp, '5'),
      usage('/proc', '1'),
      usage('/no/such/dir', '3'),
    ]);
    assert.deepEqual(
      merged.map((u) => [u.fs_id?.mountpoint, u.used_bytes?.value, u.inodes_used?.value]),
      [
        [tmp, '15', '2'],
        ['/proc', '1', undefined],
        ['/no/such/dir', '3', undefined],
      ],
    );
  });
});
