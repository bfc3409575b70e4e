import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteOwnershipStore } from '../../src/state/sqlite-store';
import { AlreadyExistsError } from '../../src/errors';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-store-'));

const sandbox = (id: string, name = 'web', attempt = 0) => ({
  id,
  backend: 'runc',
  handler: 'runc',
  reason: 'default',
  name,
  namespace: 'default',
  uid: 'u1',
  attempt,
  labels: { app: 'web' },
  annotations: {},
  createdAt: '1700000000000000000',
});

test('records survive kill -9 of the writing process', () => {
  const dir = tmp();
  const script = `
    const { SqliteOwnershipStore } = require(${JSON.stringify(path.resolve(__dirname, '../../src/state/sqlite-store.ts'))});
    const s = new SqliteOwnershipStore({ dir: ${JSON.stringify(dir)} });
    for (let i = 0; i < 50; i++) {
      s.insertSandbox({ id: 'a' + String(i).padStart(63, '0'), backend: 'runc', handler: 'runc', reason: 'default',
        name: 'p' + i, namespace: 'ns', uid: 'u', attempt: 0, labels: {}, annotations: {}, createdAt: String(i) });
      s.updateSandbox('a' + String(i).padStart(63, '0'), { phase: 'ready' });
    }
    s.insertContainer({ id: 'c'.repeat(64), sandboxId: 'a' + '0'.repeat(63), backend: 'runc', name: 'c', attempt: 0,
      image: 'busybox', labels: {}, annotations: {}, createdAt: '5' });
    process.kill(process.pid, 'SIGKILL');
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { timeout: 30_000 });
  assert.equal(r.signal, 'SIGKILL', r.stderr.toString());
  const s = new SqliteOwnershipStore({ dir });
  try {
    const all = s.listSandboxes();
    assert.equal(all.length, 50);
    assert.ok(all.every((x) => x.phase === 'ready' && x.generation === 2 && x.recordVersion === 1));
    assert.equal(s.listContainers().length, 1);
    assert.equal(s.getContainer('c'.repeat(64))?.phase, 'creating');
  } finally {
    s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('pod name/namespace/uid/attempt is reserved once', () => {
  const dir = tmp();
  const s = new SqliteOwnershipStore({ dir });
  try {
    s.insertSandbox(sandbox('1'.repeat(64)));
    assert.throws(
      () => s.insertSandbox(sandbox('2'.repeat(64))),
      (e: unknown) => e instanceof AlreadyExistsError && e.message.includes('1'.repeat(64)),
    );
    s.insertSandbox(sandbox('3'.repeat(64), 'web', 1));
    assert.equal(s.listSandboxes().length, 2);
  } finally {
    s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('prefix lookups, updates through one function, deletes, and a read-only reader', () => {
  const dir = tmp();
  const s = new SqliteOwnershipStore({ dir });
  try {
    s.insertSandbox(sandbox('ab' + '0'.repeat(62), 'a'));
    s.insertSandbox(sandbox('ac' + '0'.repeat(62), 'b'));
    assert.deepEqual(s.sandboxIdsByPrefix('ab', 2), ['ab' + '0'.repeat(62)]);
    assert.equal(s.sandboxIdsByPrefix('a', 5).length, 2);
    assert.equal(s.sandboxIdsByPrefix('%', 5).length, 0);
    const u = s.updateSandbox('ab' + '0'.repeat(62), { phase: 'ready', snapshot: '{"x":1}' });
    assert.equal(u.generation, 2);
    const reader = new SqliteOwnershipStore({ dir, readonly: true });
    assert.equal(reader.getSandbox('ab' + '0'.repeat(62))?.snapshot, '{"x":1}');
    reader.close();
    s.deleteSandbox('ab' + '0'.repeat(62));
    assert.equal(s.getSandbox('ab' + '0'.repeat(62)), undefined);
  } finally {
    s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
