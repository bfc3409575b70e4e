/**
 * Snapshots as container roots (real overlayfs mounts, as root): the multi-layer image's tree matches the fixture
 * (whiteouts and opaque dirs honoured; modes, owners, hard links, symlinks, xattrs kept), writes land in the private
 * upper dir, read-only roots refuse writes, remove leaves no mount and no dir, and the layers of a removed image
 * stay on disk while a snapshot uses them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX, LAYERS, PAUSE } from '../fixtures/images';
import { localRegistries, mountsUnder, newStore, type StoreHarness } from './harness';
import { errorKind } from '../../src/errors';

let h: StoreHarness;

before(async () => {
  const { port } = await ensureTestRegistry();
  h = newStore({ registries: localRegistries(port) });
  await h.store.start();
  for (const img of [LAYERS, PAUSE, BUSYBOX]) await h.store.pull(h.ctx(), { image: img.ref });
});

after(async () => {
  await h?.cleanup();
});

function xattr(file: string, name: string): string | undefined {
  try {
    return execFileSync('getfattr', ['--only-values', '-n', name, file], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
  } catch {
    return undefined;
  }
}

describe('snapshots', () => {
  it('mounts the multi-layer image as a root whose files match the image', async () => {
    const snap = await h.store.prepare(h.ctx(), 'c-layers', LAYERS.ref, { readonly: false });
    assert.deepEqual(mountsUnder(snap.rootfs), [snap.rootfs]);
    for (const [p, want] of Object.entries(LAYERS.dataTree)) {
      const file = path.join(snap.rootfs, p);
      const st = lstatSync(file);
      const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      assert.equal(type, want.type, p);
      if (want.content !== undefined) assert.equal(readFileSync(file, 'utf8'), want.content, p);
      if (want.target !== undefined) assert.equal(readlinkSync(file), want.target, p);
      if (want.mode !== undefined) assert.equal(st.mode & 0o7777, want.mode, `${p} mode`);
      if (want.uid !== undefined) assert.equal(st.uid, want.uid, `${p} uid`);
      if (want.gid !== undefined) assert.equal(st.gid, want.gid, `${p} gid`);
      if (want.hardLinkOf !== undefined)
        assert.equal(st.ino, lstatSync(path.join(snap.rootfs, want.hardLinkOf)).ino, p);
      for (const [k, v] of Object.entries(want.xattrs ?? {})) assert.equal(xattr(file, k), v, `${p} ${k}`);
    }
    for (const p of LAYERS.absent) assert.ok(!existsSync(path.join(snap.rootfs, p)), `${p} hidden`);
    const names = execFileSync('ls', [path.join(snap.rootfs, 'data')]).toString();
    assert.equal(names, LAYERS.lsData);
    // busybox underneath: /home/www owned by 33, /tmp sticky.
    assert.equal(lstatSync(path.join(snap.rootfs, 'home/www')).uid, 33);
    assert.equal(lstatSync(path.join(snap.rootfs, 'tmp')).mode & 0o7777, 0o1777);
  });

  it('writes into the private upper dir and reports its usage', async () => {
    const again = await h.store.prepare(h.ctx(), 'c-layers', LAYERS.ref, { readonly: false });
    assert.ok(again.upperDir);
    writeFileSync(path.join(again.rootfs, 'data/new'), 'x'.repeat(10_000));
    assert.ok(existsSync(path.join(again.upperDir, 'data/new')));
    const u = await h.store.usage('c-layers');
    assert.ok(u.bytes >= 10_000, String(u.bytes));
    assert.ok(u.inodes >= 2);
    // Layers are shared and untouched.
    const other = await h.store.prepare(h.ctx(), 'c-layers-2', LAYERS.ref, { readonly: false });
    assert.ok(!existsSync(path.join(other.rootfs, 'data/new')));
    assert.deepEqual((await h.store.keys()).sort(), ['c-layers', 'c-layers-2']);
    const fs = await h.store.fsInfo(h.ctx());
    assert.ok(Number(fs.containerFilesystems[0]?.used_bytes?.value) >= 10_000);
  });

  it('gives read-only roots (multi-layer overlay and single-layer bind)', async () => {
    for (const [key, ref] of [
      ['ro-multi', LAYERS.ref],
      ['ro-single', PAUSE.ref],
    ] as const) {
      const snap = await h.store.prepare(h.ctx(), key, ref, { readonly: true });
      assert.equal(snap.upperDir, undefined);
      assert.throws(() => writeFileSync(path.join(snap.rootfs, 'x'), 'x'), /EROFS/, key);
      assert.ok(existsSync(path.join(snap.rootfs, key === 'ro-single' ? 'pause' : 'data/c')));
    }
  });

  it('refuses bad keys and unknown images', async () => {
    await assert.rejects(h.store.prepare(h.ctx(), '../escape', LAYERS.ref, { readonly: false }), (e: Error) => {
      return errorKind(e) === 'InvalidArgument';
    });
    await assert.rejects(h.store.prepare(h.ctx(), 'c-missing', 'busybox:nope', { readonly: false }), (e: Error) => {
      return errorKind(e) === 'NotFound';
    });
    assert.ok(!(await h.store.keys()).includes('c-missing'));
  });

  it('keeps layers a snapshot uses when its image is removed, collects them after', async () => {
    const snap = await h.store.prepare(h.ctx(), 'c-orphan', LAYERS.ref, { readonly: false });
    await h.store.removeSnapshot(h.ctx(), 'c-layers-2');
    await h.store.removeSnapshot(h.ctx(), 'ro-multi');
    const before = h.list('layers').length;
    await h.store.remove(h.ctx(), LAYERS.ref);
    assert.equal(h.list('layers').length, before, 'still in use by c-layers and c-orphan');
    assert.equal(readFileSync(path.join(snap.rootfs, 'data/c'), 'utf8'), 'c\n');
    await h.store.removeSnapshot(h.ctx(), 'c-orphan');
    await h.store.removeSnapshot(h.ctx(), 'c-layers');
    assert.equal(h.list('layers').length, before - 3, 'the three /data layers go, busybox stays');
  });

  it('collects the layers of a removed image once its snapshots are removed all at once (collections joined)', async () => {
    await h.store.pull(h.ctx(), { image: LAYERS.ref });
    const keys = Array.from({ length: 6 }, (_, i) => `c-many-${i}`);
    for (const k of keys) await h.store.prepare(h.ctx(), k, LAYERS.ref, { readonly: false });
    const before = h.list('layers').length;
    await h.store.remove(h.ctx(), LAYERS.ref);
    assert.equal(h.list('layers').length, before, 'still in use');
    await Promise.all(keys.map((k) => h.store.removeSnapshot(h.ctx(), k)));
    assert.equal(h.list('layers').length, before - 3, 'every removal resolved after a collection that saw it');
    for (const k of keys) assert.ok(!(await h.store.keys()).includes(k));
  });

  it('removes snapshots idempotently, leaving no mount and no dir', async () => {
    await h.store.removeSnapshot(h.ctx(), 'ro-single');
    await h.store.removeSnapshot(h.ctx(), 'ro-single');
    await h.store.removeSnapshot(h.ctx(), 'never-existed');
    assert.deepEqual(await h.store.keys(), []);
    assert.deepEqual(h.list('snapshots'), []);
    assert.deepEqual(mountsUnder(h.root), []);
  });

  it('unmounts a busy root lazily', async () => {
    const snap = await h.store.prepare(h.ctx(), 'c-busy', BUSYBOX.ref, { readonly: false });
    const holder = execFileSync('sh', ['-c', `cd ${snap.rootfs} && (sleep 30 >/dev/null 2>&1 & echo $!)`])
      .toString()
      .trim();
    try {
      await h.store.removeSnapshot(h.ctx(), 'c-busy');
      assert.deepEqual(mountsUnder(h.root), []);
      assert.ok(!existsSync(path.dirname(snap.rootfs)));
    } finally {
      process.kill(Number(holder), 'SIGKILL');
    }
  });
});
