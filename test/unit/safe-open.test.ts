import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFileInRoot, resolveInRoot } from '../../src/host/safe-open';
import { layersSource, resolveUser } from '../../src/host/passwd';
import { InvalidArgumentError } from '../../src/errors';

function root(): { dir: string; done: () => void } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-safe-open-')));
  fs.mkdirSync(path.join(dir, 'etc'));
  return { dir, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Fails the test instead of hanging when a read blocks (the bug this guards against). */
function bounded<T>(p: Promise<T>, ms = 5000): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`blocked for ${ms} ms`)), ms))),
  ]);
}

test('a FIFO at /etc/passwd is refused at once, and many of them do not starve the libuv pool', async () => {
  const r = root();
  try {
    execFileSync('mkfifo', [path.join(r.dir, 'etc', 'passwd'), path.join(r.dir, 'etc', 'group')]);
    await assert.rejects(
      bounded(resolveUser(r.dir, { spec: 'www-data' })),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /etc\/(passwd|group): not a regular file \(a FIFO\)/.test(e.message),
    );
    // More concurrent attempts than libuv has threads (4): a blocking open would hang the readFile below.
    const attempts = Array.from({ length: 12 }, () => resolveUser(r.dir, { uid: 1000 }).catch((e: unknown) => e));
    const others = fs.promises.readFile(__filename, 'utf8');
    const results = await bounded(Promise.all(attempts));
    assert.ok(results.every((e) => e instanceof InvalidArgumentError));
    assert.match(await bounded(others), /libuv/);
  } finally {
    r.done();
  }
});

test('symlinks resolve inside the root: absolute and ../ targets never reach the host', async () => {
  const r = root();
  try {
    fs.writeFileSync(path.join(r.dir, 'etc', 'real-passwd'), 'app:x:1234:1234::/home/app:/bin/sh\n');
    fs.symlinkSync('/etc/real-passwd', path.join(r.dir, 'etc', 'passwd'));
    assert.equal((await resolveUser(r.dir, { spec: 'app' })).uid, 1234);
    // The host's /etc/hostname exists; inside this root it does not: the image sees "absent", not the host file.
    fs.symlinkSync('../../../../../../etc/hostname', path.join(r.dir, 'etc', 'group'));
    assert.equal(await readFileInRoot(r.dir, 'etc/group'), null);
    fs.symlinkSync('/', path.join(r.dir, 'hostroot'));
    assert.equal(await resolveInRoot(r.dir, 'hostroot/etc/real-passwd'), path.join(r.dir, 'etc', 'real-passwd'));
    fs.symlinkSync('loop', path.join(r.dir, 'loop'));
    await assert.rejects(readFileInRoot(r.dir, 'loop'), /too many levels of symbolic links/);
  } finally {
    r.done();
  }
});

test('device nodes, sockets, directories and oversized files are refused; absent files are null', async () => {
  const r = root();
  try {
    execFileSync('mknod', [path.join(r.dir, 'etc', 'passwd'), 'c', '1', '3']);
    await assert.rejects(readFileInRoot(r.dir, 'etc/passwd'), /a character device/);
    fs.mkdirSync(path.join(r.dir, 'etc', 'group'));
    await assert.rejects(readFileInRoot(r.dir, 'etc/group'), /a directory/);
    fs.writeFileSync(path.join(r.dir, 'etc', 'big'), Buffer.alloc(4096, 'a'));
    await assert.rejects(readFileInRoot(r.dir, 'etc/big', 1000), /larger than 1000 bytes/);
    assert.equal((await readFileInRoot(r.dir, 'etc/big', 4096))?.length, 4096);
    assert.equal(await readFileInRoot(r.dir, 'etc/missing'), null);
    assert.equal(await readFileInRoot(path.join(r.dir, 'nope'), 'etc/passwd'), null);
  } finally {
    r.done();
  }
});

test('a FIFO in an unpacked layer is refused too (runc reads users from layers before mounting)', async () => {
  const r = root();
  try {
    execFileSync('mkfifo', [path.join(r.dir, 'etc', 'passwd')]);
    await assert.rejects(bounded(resolveUser(layersSource([r.dir]), { spec: 'root' })), /a FIFO/);
  } finally {
    r.done();
  }
});
