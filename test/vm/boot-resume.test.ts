/**
 * Restoring a VM from its template state when qemu goes away mid-load fails the one RunPodSandbox, never the
 * daemon (#24: the random crash harness saw "crimux crashed: unhandled rejection … send template state"). No qemu:
 * a QMP stand-in that fails, and a migration socket nobody listens on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resume } from '../../src/backends/vm/boot';
import type { Vm } from '../../src/backends/vm/vm';

test('qemu gone during the template load: resume rejects, and nothing is left unhandled', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvm-resume-'));
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown): number => unhandled.push(r);
  process.on('unhandledRejection', onUnhandled);
  try {
    const stateFile = path.join(dir, 'state');
    fs.writeFileSync(stateFile, 'x');
    const qmp = {
      execute: async (cmd: string) => {
        if (cmd === 'query-status') throw new Error('qmp: connection closed');
        return {};
      },
    };
    const vm = { qmp: async () => qmp, paths: { dir } } as unknown as Vm;
    await assert.rejects(resume(vm, stateFile, 200), /connection closed/);
    await new Promise((r) => setTimeout(r, 600)); // the file sender gives up after 200 ms
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
