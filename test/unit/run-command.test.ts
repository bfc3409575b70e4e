/**
 * runCommand, the one way crimux runs a host command to completion: what a caller gets back for an exit code, a
 * signal, a chatty child and a binary that cannot start. Runs without the spawn helper (Node's spawn), so these
 * are runCommand's own rules; test/unit/spawner.test.ts runs the same calls through the helper.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeadlineExceededError, UnavailableError } from '../../src/errors';
import { firstLine, runCommand } from '../../src/host/process';

describe('runCommand', () => {
  it('reports a non-zero exit as a result, not an error', async () => {
    const r = await runCommand('sh', ['-c', 'echo no such rule >&2; exit 1']);
    assert.deepEqual(r, { code: 1, signal: null, stdout: '', stderr: 'no such rule\n' });
    assert.equal(firstLine(r), 'no such rule');
  });

  it('reports a signal by name and as 128 + its number, as a shell does', async () => {
    const r = await runCommand('sh', ['-c', 'kill -KILL $$']);
    assert.deepEqual(r, { code: 137, signal: 'SIGKILL', stdout: '', stderr: '' });
    assert.equal(firstLine(r), 'killed by SIGKILL');
    assert.deepEqual(await runCommand('sh', ['-c', 'kill -USR1 $$']), {
      code: 138,
      signal: 'SIGUSR1',
      stdout: '',
      stderr: '',
    });
    assert.equal(firstLine(await runCommand('sh', ['-c', 'exit 4'])), 'exit code 4');
  });

  it('keeps exactly the first maxOutputBytes of each stream', async () => {
    const r = await runCommand('sh', ['-c', 'head -c 100000 /dev/zero | tr "\\0" a; head -c 5000 /dev/zero >&2'], {
      maxOutputBytes: 4096,
    });
    assert.equal(r.stdout, 'a'.repeat(4096));
    assert.equal(r.stderr.length, 4096);
  });

  it('rejects a binary that cannot start with Unavailable, and a run past its deadline with DeadlineExceeded', async () => {
    await assert.rejects(runCommand('/nonexistent/crimux-nope', []), (e) => e instanceof UnavailableError);
    const plain = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-run-')), 'plain');
    await fs.writeFile(plain, '#!/bin/sh\n', { mode: 0o644 });
    await assert.rejects(runCommand(plain, []), (e) => e instanceof UnavailableError && /EACCES/.test(e.message));
    await fs.rm(path.dirname(plain), { recursive: true });
    await assert.rejects(runCommand('sleep', ['30'], { timeoutMs: 100 }), (e) => {
      assert.ok(e instanceof DeadlineExceededError);
      assert.match(e.message, /timed out after 100 ms/);
      return true;
    });
    await assert.rejects(runCommand('true', [], { signal: AbortSignal.abort() }), /cancelled before start/);
  });
});
