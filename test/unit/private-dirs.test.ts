import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { securePrivateDirs } from '../../src/state/private-dirs';
import { FailedPreconditionError } from '../../src/errors';

const modeOf = (p: string): number => fs.statSync(p).mode & 0o7777;

test('state, image and backend dirs become 0700 and the run dir 0711, also when they existed wider', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-perms-'));
  try {
    const stateDir = path.join(root, 'var', 'lib', 'crimux');
    const runDir = path.join(root, 'run', 'crimux');
    fs.mkdirSync(path.join(stateDir, 'images'), { recursive: true, mode: 0o755 });
    fs.chmodSync(stateDir, 0o755);
    fs.chmodSync(path.join(stateDir, 'images'), 0o777);
    securePrivateDirs({ stateDir, runDir });
    assert.equal(modeOf(stateDir), 0o700);
    assert.equal(modeOf(path.join(stateDir, 'images')), 0o700);
    assert.equal(modeOf(path.join(stateDir, 'backends')), 0o700);
    assert.equal(modeOf(runDir), 0o711);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a state dir owned by another user is refused', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-perms-'));
  try {
    const stateDir = path.join(root, 'state');
    fs.mkdirSync(stateDir);
    fs.chownSync(stateDir, 65534, 65534);
    assert.throws(
      () => securePrivateDirs({ stateDir, runDir: path.join(root, 'run') }),
      (e: unknown) => e instanceof FailedPreconditionError && /owned by uid 65534/.test(e.message),
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
