import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { notifySystemd } from '../../src/host/sd-notify';
import { nullLogger } from '../../src/log/logger';

test('ready and stopping reach systemd through systemd-notify with our MAINPID; nothing without NOTIFY_SOCKET', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-notify-'));
  try {
    const out = path.join(dir, 'calls');
    const stub = path.join(dir, 'systemd-notify');
    fs.writeFileSync(stub, `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> ${out}\n`, { mode: 0o755 });
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', CRIMUX_SYSTEMD_NOTIFY: stub };
    await notifySystemd('ready', nullLogger(), env);
    await notifySystemd('stopping', nullLogger(), env);
    await notifySystemd('ready', nullLogger(), { CRIMUX_SYSTEMD_NOTIFY: stub });
    assert.deepEqual(fs.readFileSync(out, 'utf8').trim().split('\n'), [
      `/run/systemd/notify --pid=${process.pid} --ready`,
      `/run/systemd/notify --pid=${process.pid} STOPPING=1`,
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
