import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { capConsoleLog } from '../../src/backends/vm/console-log';
import { QEMU_SANDBOX, qemuArgs, vmPaths } from '../../src/backends/vm/qemu';

test('qemu runs under its full seccomp sandbox, without -daemonize and without exec: URIs', () => {
  const args = qemuArgs({
    qemu: 'qemu-system-x86_64',
    accel: 'tcg',
    guest: { kernel: '/k', initrd: '/i', tools: '/t' } as never,
    memMiB: 256,
    vcpus: 1,
    paths: vmPaths('/run/x', '/var/lib/x/console.log'),
  });
  assert.equal(args[args.indexOf('-sandbox') + 1], QEMU_SANDBOX);
  for (const deny of ['obsolete', 'elevateprivileges', 'spawn', 'resourcecontrol']) {
    assert.match(QEMU_SANDBOX, new RegExp(`${deny}=deny`));
  }
  assert.ok(!args.includes('-daemonize'));
  assert.ok(!args.some((a) => a.includes('exec:')));
  assert.ok(args.includes('file,id=console,path=/var/lib/x/console.log,append=on'));
});

test('a console log past the limit is rotated: newest half kept in .1, the log truncated', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-console-'));
  try {
    const log = path.join(dir, 'console.log');
    fs.writeFileSync(log, Buffer.concat([Buffer.alloc(6000, 'a'), Buffer.alloc(2000, 'z')]));
    assert.equal(capConsoleLog(log, 10_000), false);
    assert.equal(capConsoleLog(log, 4000), true);
    assert.equal(fs.statSync(log).size, 0);
    assert.equal(fs.readFileSync(`${log}.1`, 'utf8'), 'z'.repeat(2000));
    // An appending writer (qemu's append=on) continues at the new end.
    fs.appendFileSync(log, 'next');
    assert.equal(fs.readFileSync(log, 'utf8'), 'next');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a comma in a path that lands in a qemu option string is refused, not passed on', () => {
  assert.throws(
    () =>
      qemuArgs({
        qemu: 'qemu-system-x86_64',
        accel: 'tcg',
        guest: { kernel: '/k', initrd: '/i', tools: '/t' } as never,
        memMiB: 256,
        vcpus: 1,
        paths: vmPaths('/run/x', '/var/lib/x,readonly=on/console.log'),
      }),
    /contains ","/,
  );
});
