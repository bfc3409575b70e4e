/**
 * Attach through the streaming server with both protocols: the client sees a running "container" process's
 * output, its stdin reaches the container only when requested, and leaving detaches without killing it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { connectRc, type RcOptions } from './clients/remotecommand-client';
import { eventually, startHarness, type Harness } from './clients/harness';

const VARIANTS: Array<Pick<RcOptions, 'transport' | 'protocol'>> = [
  { transport: 'spdy', protocol: 'v4.channel.k8s.io' },
  { transport: 'ws', protocol: 'v5.channel.k8s.io' },
];

let h: Harness;
let container: ChildProcess;
before(async () => {
  h = await startHarness();
  // Prints a tick every 100 ms and echoes what arrives on its stdin.
  container = h.backend.runContainer(
    'ctr',
    '(i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.1; done) & while read l; do echo "got $l"; done',
  );
});
after(async () => {
  await h?.close();
});

function attachUrl(stdin: boolean): string {
  return h.server.attach({
    backend: h.backend,
    containerId: 'ctr',
    opts: { stdin, stdout: true, stderr: true, tty: false },
  });
}

for (const v of VARIANTS) {
  describe(`attach over ${v.transport} ${v.protocol}`, { timeout: 60_000 }, () => {
    test('sees the output of the running process; leaving detaches, the container keeps running', async () => {
      const rc = await connectRc(attachUrl(false), { ...v, stderr: true });
      await rc.waitFor(/tick \d+\n.*tick \d+\n/s);
      rc.abort();
      await eventually(() => h.server.sessions === 0, 'the attach session to end');
      assert.equal(container.exitCode, null, 'detaching must not stop the container');
    });

    test('stdin reaches the container when requested', async () => {
      const rc = await connectRc(attachUrl(true), { ...v, stdin: true, stderr: true });
      rc.write('hello attach\n');
      await rc.waitFor(/got hello attach/);
      rc.abort();
      await eventually(() => h.server.sessions === 0, 'the attach session to end');
      assert.equal(container.exitCode, null);
    });
  });
}

describe('attach: the end of the container ends the session with Success', { timeout: 60_000 }, () => {
  test('short-lived container', async () => {
    h.backend.runContainer('short', 'sleep 0.5; echo last words; exit 4');
    const url = h.server.attach({
      backend: h.backend,
      containerId: 'short',
      opts: { stdin: false, stdout: true, stderr: true, tty: false },
    });
    const r = await (await connectRc(url, { transport: 'spdy', protocol: 'v4.channel.k8s.io', stderr: true })).done;
    assert.match(r.stdout, /last words/);
    // The kubelet reports Success for attach: the exit code belongs to the container's status.
    assert.equal(JSON.parse(r.status).status, 'Success');
  });

  test('attach to a container that does not run gives a Failure status', async () => {
    const url = h.server.attach({
      backend: h.backend,
      containerId: 'nope',
      opts: { stdin: false, stdout: true, stderr: false, tty: false },
    });
    const r = await (await connectRc(url, { transport: 'ws', protocol: 'v5.channel.k8s.io' })).done;
    const status = JSON.parse(r.status);
    assert.equal(status.status, 'Failure');
    assert.match(status.message, /no such running container/);
  });
});
