/** Health probes that ask a binary about itself only when it changed (host/binary-probe.ts), as rkt's info() does. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Stage1PodManager } from '../../src/backends/rkt/stage1/manager';
import type { Stage1Context } from '../../src/backends/rkt/stage1/context';
import { BinaryProbe, commandIdentity } from '../../src/host/binary-probe';
import { nullLogger } from '../../src/log/logger';

/** Runs `fn` with a fresh temp dir, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-binprobe-'));
  try {
    await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('commandIdentity', () => {
  it('finds a bare name in PATH and a path as given', async () => {
    const viaPath = await commandIdentity('sh');
    assert.match(viaPath, /^\d+:\d+:/);
    assert.match(await commandIdentity('/bin/sh'), /^\d+:\d+:/);
  });

  it('changes when the file is replaced and rejects when it is gone or not executable', async () => {
    await inTempDir(async (dir) => {
      const file = path.join(dir, 'tool');
      await fs.writeFile(file, '#!/bin/sh\necho 1\n', { mode: 0o755 });
      const first = await commandIdentity(file);
      assert.equal(await commandIdentity(file), first);
      await fs.writeFile(`${file}.new`, '#!/bin/sh\necho 22\n', { mode: 0o755 });
      await fs.rename(`${file}.new`, file);
      assert.notEqual(await commandIdentity(file), first);
      await fs.chmod(file, 0o644);
      await assert.rejects(commandIdentity(file), /no executable/);
      await fs.rm(file);
      await assert.rejects(commandIdentity(file), /no executable/);
      await assert.rejects(commandIdentity('crimux-no-such-command-anywhere'), /no executable/);
    });
  });
});

describe('rkt stage1 info()', () => {
  it('asks systemd-nspawn for its version once per binary, and notices one removed', async () => {
    await inTempDir(async (dir) => {
      const count = path.join(dir, 'count');
      const nspawn = path.join(dir, 'systemd-nspawn');
      const script = (v: number): string => `#!/bin/sh\necho x >> ${count}\necho "systemd ${v} (${v})"\n`;
      await fs.writeFile(nspawn, script(252), { mode: 0o755 });
      const ctx = { nspawnPath: nspawn, log: nullLogger() } as unknown as Stage1Context;
      const images = { fetch: async () => '', list: async () => [], remove: async () => undefined };
      const pm = new Stage1PodManager(ctx, images);
      assert.match((await pm.info()).version, /systemd-nspawn 252/);
      assert.match((await pm.info()).version, /systemd-nspawn 252/);
      assert.equal((await fs.readFile(count, 'utf8')).split('\n').filter(Boolean).length, 1);
      await fs.writeFile(`${nspawn}.new`, script(253), { mode: 0o755 });
      await fs.rename(`${nspawn}.new`, nspawn);
      assert.match((await pm.info()).version, /systemd-nspawn 253/);
      assert.equal((await fs.readFile(count, 'utf8')).split('\n').filter(Boolean).length, 2);
      await fs.rm(nspawn);
      await assert.rejects(pm.info());
    });
  });
});

describe('BinaryProbe', () => {
  it('keeps an answer while the binary is unchanged and younger than maxAge, never a failure', async () => {
    await inTempDir(async (dir) => {
      const file = path.join(dir, 'tool');
      await fs.writeFile(file, '#!/bin/sh\n', { mode: 0o755 });
      let asked = 0;
      let fail = true;
      const probe = new BinaryProbe(file, async () => {
        asked++;
        if (fail) throw new Error('broken');
        return asked;
      });
      await assert.rejects(probe.get(), /broken/);
      fail = false;
      assert.equal(await probe.get(), 2, 'a failure is asked again at once');
      assert.equal(await probe.get(), 2);
      const aged = new BinaryProbe(file, async () => ++asked, 0);
      const a = await aged.get();
      assert.equal(await aged.get(), a + 1, 'maxAge 0: asked every time');
    });
  });
});
