/**
 * A guest that floods its serial console, on the vm backend's real qemu (TCG) with the real guest kernel: the
 * kernel is booted with every message on the console (loglevel=8 initcall_debug), far more than the cap set here.
 * The host copy must stay capped (rotated into console.log.1), and qemu must run under its seccomp sandbox, not
 * daemonized. This drives src/backends/vm/qemu.ts directly: a VM pod through the daemon boots with `quiet` and a
 * container cannot write the guest console, so the flood is made at the kernel's level instead.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setConsoleLogMaxBytes, sweepConsoleLogs } from '../../src/backends/vm/console-log';
import { loadGuest } from '../../src/backends/vm/guest';
import { startQemu, vmPaths } from '../../src/backends/vm/qemu';
import { GUEST_DIR } from '../vm/helpers';
import { ResultLog } from './env';

const log = new ResultLog('vm-console');
const CAP = 16 * 1024;

describe('vm: a guest flooding its console', { timeout: 300_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-sec-vm-'));
  let pid = 0;
  after(() => {
    if (pid) process.kill(pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the host copy of the console capped; qemu runs sandboxed', async () => {
    setConsoleLogMaxBytes(CAP);
    const paths = vmPaths(path.join(dir, 'run'), path.join(dir, 'console.log'));
    pid = await startQemu({
      qemu: 'qemu-system-x86_64',
      accel: 'tcg',
      guest: loadGuest(GUEST_DIR),
      memMiB: 256,
      vcpus: 1,
      paths,
      extraAppend: 'loglevel=8 initcall_debug printk.devkmsg=on',
    });
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, /^Seccomp:\s+2$/m, 'qemu has no seccomp filter');
    let maxSeen = 0;
    let rotated = 0;
    const until = Date.now() + 40_000;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      sweepConsoleLogs();
      const size = fs.statSync(paths.consoleLog).size;
      maxSeen = Math.max(maxSeen, size);
      if (fs.existsSync(`${paths.consoleLog}.1`)) rotated++;
      if (
        rotated > 0 &&
        /Run \/init|Freeing unused kernel/.test(
          fs.readFileSync(`${paths.consoleLog}.1`, 'utf8') + fs.readFileSync(paths.consoleLog, 'utf8'),
        )
      )
        break;
    }
    assert.ok(rotated > 0, 'the flood never exceeded the cap: nothing to prove');
    sweepConsoleLogs();
    const final = fs.statSync(paths.consoleLog).size + fs.statSync(`${paths.consoleLog}.1`).size;
    assert.ok(fs.statSync(`${paths.consoleLog}.1`).size <= CAP / 2);
    assert.ok(fs.statSync(paths.consoleLog).size <= CAP, `console.log is ${fs.statSync(paths.consoleLog).size} bytes`);
    log.record({
      attack: 'guest flooding its serial console (kernel loglevel=8 initcall_debug)',
      backend: 'vm',
      outcome: `contained: host copy capped at ${CAP} B (+ ${CAP / 2} B in .1; ${final} B now, peak ${maxSeen} B between sweeps); qemu seccomp on`,
    });
  });
});
