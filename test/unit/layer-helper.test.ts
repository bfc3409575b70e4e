/**
 * The crimux-layer helper (src/host/native/crimux-layer.c) on its own: the decompression rules it shares with the
 * in-process path (Node's gunzip: concatenated members, zero padding; zstd: concatenated and skippable frames), the
 * whiteout scan across read boundaries, the byte limit at its exact edge, tar's failures, and that a killed helper
 * takes tar with it. The pull tests (test/images/*, UNPACK_PATHS) run the same rules end to end through the store.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Readable } from 'node:stream';
import { LAYER_HELPER } from '../images/harness';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  result: string;
  stdout: string;
  stderr: string;
}

/** Runs the helper with `input` written in the given pieces (a pause between them makes separate reads). */
async function runHelper(
  compression: string,
  maxBytes: number,
  tar: string[],
  pieces: Buffer[],
  before: string[] = [],
): Promise<Run> {
  const child = spawn(LAYER_HELPER, [...before, compression, String(maxBytes), '--', ...tar], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  const text = (s: Readable | null): (() => string) => {
    let t = '';
    s?.on('data', (b: Buffer) => (t += b.toString()));
    return () => t;
  };
  const [stdout, stderr, result] = [text(child.stdout), text(child.stderr), text(child.stdio[3] as Readable)];
  child.stdin.on('error', () => undefined); // EPIPE when the helper stops early: the exit code tells
  for (const p of pieces) {
    child.stdin.write(p);
    if (pieces.length > 1) await sleep(30);
  }
  child.stdin.end();
  const [code, signal] = (await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])))) as [
    number | null,
    NodeJS.Signals | null,
  ];
  return { code, signal, result: result(), stdout: stdout(), stderr: stderr() };
}

/** The uncompressed part of a result line ("sha256:<hex> <bytes> <0|1>"), and checks the compressed part. */
function diffPart(r: Run, input: Buffer): string {
  const m = /^(\S+ \d+ [01]) (\S+) (\d+)\n$/.exec(r.result);
  assert.ok(m, `result line: ${JSON.stringify(r.result)} (${r.stderr})`);
  assert.equal(m[2], sha(input), 'digest of the compressed input');
  assert.equal(Number(m[3]), input.length, 'size of the compressed input');
  return `${m[1]}\n`;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const zstd = (b: Buffer): Buffer => execFileSync('zstd', ['-q', '-c'], { input: b });
const LIST = ['tar', '-t', '-f', '-'];

describe('crimux-layer helper', { skip: !existsSync(LAYER_HELPER) && `${LAYER_HELPER} is not built` }, () => {
  let dir: string;
  let layer: Buffer; // a tar archive of two files, one of them a whiteout
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'crimux-layer-'));
    const src = path.join(dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a'), 'alpha\n');
    writeFileSync(path.join(src, '.wh.gone'), '');
    layer = execFileSync('tar', ['-C', src, '-cf', '-', 'a', '.wh.gone']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('extracts and reports the diff ID, size and whiteout hint of gzip, zstd and plain layers', async () => {
    for (const [kind, body] of [
      ['gzip', gzipSync(layer)],
      ['zstd', zstd(layer)],
      ['none', layer],
    ] as const) {
      const out = path.join(dir, `out-${kind}`);
      mkdirSync(out);
      const r = await runHelper(kind, 1 << 30, ['tar', '-x', '-f', '-', '-C', out], [body]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(diffPart(r, body), `${sha(layer)} ${layer.length} 1\n`);
      assert.equal(readFileSync(path.join(out, 'a'), 'utf8'), 'alpha\n');
    }
  });

  it("follows Node's gunzip: concatenated members, zero padding after a member; other trailing bytes fail", async () => {
    const two = Buffer.concat([gzipSync(layer), gzipSync(Buffer.from('tail')), Buffer.alloc(600)]);
    const ok = await runHelper('gzip', 1 << 30, LIST, [two]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(diffPart(ok, two), `${sha(Buffer.concat([layer, Buffer.from('tail')]))} ${layer.length + 4} 1\n`);
    const garbage = await runHelper('gzip', 1 << 30, LIST, [Buffer.concat([gzipSync(layer), Buffer.from('junk')])]);
    assert.equal(garbage.code, 65);
    assert.match(garbage.stderr, /not valid gzip data/);
  });

  it("agrees with Node's gunzip on what follows a member, however the input is split into reads", async () => {
    const a = gzipSync(Buffer.from('first member\n'));
    const b = gzipSync(Buffer.from('second member\n'));
    const cases = [
      Buffer.concat([a, b]), // both members count
      Buffer.concat([a, Buffer.alloc(3), b]), // a zero byte starts padding: the rest is ignored
      Buffer.concat([a, Buffer.alloc(1), Buffer.from('junk')]),
      Buffer.concat([a, b, Buffer.alloc(9)]),
    ];
    for (const body of cases) {
      const want = gunzipSync(body);
      for (const cut of [0, a.length, a.length + 1, body.length - 2]) {
        const pieces = cut > 0 && cut < body.length ? [body.subarray(0, cut), body.subarray(cut)] : [body];
        const r = await runHelper('gzip', 1 << 30, ['cat'], pieces);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, want.toString(), `split at ${cut}`);
        assert.equal(diffPart(r, body), `${sha(want)} ${want.length} 0\n`);
      }
    }
  });

  it('ends a zstd frame whose output fills the buffer exactly (whole MiBs)', async () => {
    for (const mib of [1, 2]) {
      const plain = Buffer.alloc(mib << 20, 'z');
      const r = await runHelper('zstd', 1 << 30, ['sh', '-c', 'cat >/dev/null'], [zstd(plain)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(diffPart(r, zstd(plain)), `${sha(plain)} ${plain.length} 0\n`);
    }
  });

  it('takes concatenated and skippable zstd frames', async () => {
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
    const body = Buffer.concat([zstd(layer), skippable, zstd(Buffer.from('more'))]);
    const r = await runHelper('zstd', 1 << 30, LIST, [body]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(diffPart(r, body), `${sha(Buffer.concat([layer, Buffer.from('more')]))} ${layer.length + 4} 1\n`);
  });

  it('refuses cut-short and empty streams as invalid data (exit 65), with nothing reported', async () => {
    const cut = (b: Buffer): Buffer => b.subarray(0, b.length - 9);
    for (const [kind, body] of [
      ['gzip', cut(gzipSync(layer))],
      ['zstd', cut(zstd(layer))],
      ['gzip', Buffer.alloc(0)],
      ['zstd', Buffer.alloc(0)],
      ['gzip', Buffer.from('not gzip at all')],
    ] as const) {
      const r = await runHelper(kind, 1 << 30, LIST, [body]);
      assert.equal(r.code, 65, `${kind} ${body.length}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`not valid ${kind} data`));
      assert.equal(r.result, '');
    }
  });

  it('finds ".wh." split across two reads, and only a real one', async () => {
    const split = await runHelper('none', 1 << 30, ['cat'], [Buffer.from('xx.w'), Buffer.from('h.yy')]);
    assert.equal(split.code, 0, split.stderr);
    assert.match(split.result, / 8 1 sha256:/);
    const near = await runHelper('none', 1 << 30, ['cat'], [Buffer.from('x.w'), Buffer.from('x.h.'), Buffer.from('w')]);
    assert.match(near.result, / 8 0 sha256:/);
    const oneByOne = await runHelper(
      'none',
      1 << 30,
      ['cat'],
      [...'a.wh.b'].map((c) => Buffer.from(c)),
    );
    assert.match(oneByOne.result, / 6 1 sha256:/);
  });

  it('allows exactly MAX_BYTES and stops one byte past it (exit 66)', async () => {
    const body = gzipSync(layer);
    assert.equal((await runHelper('gzip', layer.length, LIST, [body])).code, 0);
    const over = await runHelper('gzip', layer.length - 1, LIST, [body]);
    assert.equal(over.code, 66);
    assert.match(over.stderr, new RegExp(`more than ${layer.length - 1} bytes`));
  });

  it("hashes the bytes after tar's end of archive, and reports a failed tar (exit 67)", async () => {
    const padded = Buffer.concat([layer, Buffer.alloc(1 << 20, 7)]);
    const ok = await runHelper('none', 1 << 30, LIST, [padded]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(diffPart(ok, padded), `${sha(padded)} ${padded.length} 1\n`);
    const bad = await runHelper('none', 1 << 30, ['tar', '-x', '-f', '-', '-C', path.join(dir, 'missing')], [layer]);
    assert.equal(bad.code, 67);
    assert.match(bad.stderr, /tar exited with 2/);
    const gone = await runHelper('none', 1 << 30, ['/nonexistent/tar'], [layer]);
    assert.equal(gone.code, 67);
  });

  it('stores the compressed bytes in a new --blob file, never through a symlink or over a file', async () => {
    const body = gzipSync(layer);
    const blob = path.join(dir, 'blob');
    const r = await runHelper('gzip', 1 << 30, LIST, [body.subarray(0, 100), body.subarray(100)], ['--blob', blob]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(blob), body);
    const target = path.join(dir, 'target');
    writeFileSync(target, 'keep');
    const link = path.join(dir, 'link');
    symlinkSync(target, link);
    for (const existing of [link, target]) {
      const refused = await runHelper('gzip', 1 << 30, LIST, [body], ['--blob', existing]);
      assert.equal(refused.code, 70, refused.stderr);
      assert.match(refused.stderr, /File exists/);
      assert.equal(readFileSync(target, 'utf8'), 'keep');
    }
  });

  it('refuses a malformed command line (exit 64): the tar command comes only after "--"', async () => {
    for (const args of [
      ['gzip', '10', 'tar'],
      ['gzip', '10x', '--', 'tar'],
      ['lz4', '10', '--', 'tar'],
      ['gzip', '10', '--'],
      ['--blob'],
      ['--blob', '/tmp/x', 'gzip', '10', 'tar'],
    ]) {
      const child = spawn(LAYER_HELPER, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
      const code = await new Promise((resolve) => child.on('close', resolve));
      assert.equal(code, 64, args.join(' '));
    }
  });

  it('takes tar with it when it is killed', async () => {
    const child = spawn(LAYER_HELPER, ['none', '100', '--', 'sleep', '30'], {
      stdio: ['pipe', 'ignore', 'ignore', 'pipe'],
    });
    const pid = child.pid as number;
    let tar: number | undefined;
    for (let i = 0; i < 100 && tar === undefined; i++) {
      await sleep(20);
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      if (kids) tar = Number(kids.split(' ')[0]);
    }
    assert.ok(tar, 'tar (here: sleep) was started');
    child.kill('SIGKILL');
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      await sleep(20);
      alive = existsSync(`/proc/${tar}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${tar}/status`, 'utf8'));
    }
    assert.equal(alive, false, 'tar outlived its helper');
  });
});
