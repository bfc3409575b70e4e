/**
 * vm mountFiles (src/backends/vm/spec.ts): CRI mounts reach a VM guest as a copy made at create. The copy keeps
 * the volume's shape (empty directories are mount points a container may expect) and never reaches past it: a
 * symlink inside a volume is not followed (a pod sharing the volume could point it at any host file), and a FIFO
 * is skipped without blocking the daemon.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { mountFiles } from '../../src/backends/vm/spec';
import { criMount } from '../helpers/cri-mount';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-mount-files-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function mount(hostPath: string, containerPath = '/data') {
  return mountFiles([criMount({ host_path: hostPath, container_path: containerPath })]);
}

describe('vm mountFiles', () => {
  it('keeps empty directories and file modes', () => {
    const vol = path.join(root, 'shape');
    fs.mkdirSync(path.join(vol, 'mnt', 'point'), { recursive: true });
    fs.writeFileSync(path.join(vol, 'mnt', 'f'), 'x', { mode: 0o640 });
    const { files, skipped } = mount(vol);
    assert.deepEqual(skipped, []);
    const dirs = files.filter((f) => f.dir).map((f) => f.path);
    assert.deepEqual(dirs.sort(), ['/data', '/data/mnt', '/data/mnt/point']);
    const f = files.find((x) => x.path === '/data/mnt/f');
    assert.equal(Buffer.from(f?.data ?? '', 'base64').toString(), 'x');
    assert.equal(f?.mode, 0o640);
  });

  it('does not follow a symlink inside the volume to a host file', () => {
    const secret = path.join(root, 'secret');
    fs.writeFileSync(secret, 'host secret');
    const vol = path.join(root, 'links');
    fs.mkdirSync(vol);
    fs.symlinkSync(secret, path.join(vol, 'leak'));
    fs.symlinkSync(root, path.join(vol, 'dirleak'));
    const { files, skipped } = mount(vol);
    assert.ok(!files.some((f) => Buffer.from(f.data, 'base64').toString().includes('host secret')));
    assert.equal(skipped.filter((s) => s.includes('symbolic link')).length, 2, skipped.join('; '));
  });

  it('follows the volume path itself, as a bind mount would', () => {
    const real = path.join(root, 'real');
    fs.mkdirSync(real);
    fs.writeFileSync(path.join(real, 'a'), 'a');
    fs.symlinkSync(real, path.join(root, 'alias'));
    const { files } = mount(path.join(root, 'alias'));
    assert.ok(files.some((f) => f.path === '/data/a'));
  });

  it('skips a FIFO without blocking', () => {
    const vol = path.join(root, 'fifo');
    fs.mkdirSync(vol);
    execFileSync('mkfifo', ['--', path.join(vol, 'pipe')]);
    const { files, skipped } = mount(vol);
    assert.ok(!files.some((f) => f.path === '/data/pipe'));
    assert.ok(skipped.some((s) => s.includes('pipe')));
  });
});
