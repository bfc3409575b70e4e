/**
 * Exec through the streaming server with real clients of both protocols (SPDY v4/v2, WebSocket v5/v4-base64)
 * against a backend that runs real host processes: echo, stdin round trip, TTY with a resize, exit codes, and
 * the client going away (the process must die, nothing may leak).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectRc, type RcOptions } from './clients/remotecommand-client';
import { eventually, metricValue, startHarness, type Harness } from './clients/harness';

const VARIANTS: Array<Pick<RcOptions, 'transport' | 'protocol'>> = [
  { transport: 'spdy', protocol: 'v4.channel.k8s.io' },
  { transport: 'ws', protocol: 'v5.channel.k8s.io' },
  { transport: 'ws', protocol: 'v4.base64.channel.k8s.io' },
];

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

function execUrl(cmd: string[], opts: { stdin?: boolean; tty?: boolean; stderr?: boolean } = {}): string {
  return h.server.exec({
    backend: h.backend,
    containerId: 'c1',
    cmd,
    opts: { stdin: opts.stdin ?? false, stdout: true, stderr: opts.stderr ?? !opts.tty, tty: opts.tty ?? false },
  });
}

for (const v of VARIANTS) {
  describe(`exec over ${v.transport} ${v.protocol}`, { timeout: 60_000 }, () => {
    test('echo: stdout, stderr and a Success status', async () => {
      const rc = await connectRc(execUrl(['sh', '-c', 'echo hello; echo oops >&2']), { ...v, stderr: true });
      assert.equal(rc.protocol, v.protocol);
      const r = await rc.done;
      assert.equal(r.stdout, 'hello\n');
      assert.equal(r.stderr, 'oops\n');
      assert.deepEqual(JSON.parse(r.status), { metadata: {}, status: 'Success' });
    });

    test('stdin round trip; the end of stdin ends the process', async (t) => {
      if (v.transport === 'ws' && !v.protocol.startsWith('v5.'))
        return t.skip('only v5 can close stdin over WebSocket');
      const rc = await connectRc(execUrl(['sh', '-c', 'cat; echo done'], { stdin: true }), {
        ...v,
        stdin: true,
        stderr: true,
      });
      rc.write('line one\n');
      await rc.waitFor(/line one\n/);
      rc.write('line two\n');
      rc.endStdin();
      const r = await rc.done;
      assert.equal(r.stdout, 'line one\nline two\ndone\n');
      assert.equal(JSON.parse(r.status).status, 'Success');
    });

    test('non-zero exit code arrives as NonZeroExitCode with an ExitCode cause', async () => {
      const rc = await connectRc(execUrl(['sh', '-c', 'echo bye; exit 7']), { ...v, stderr: true });
      const r = await rc.done;
      assert.equal(r.stdout, 'bye\n');
      const status = JSON.parse(r.status);
      assert.equal(status.status, 'Failure');
      assert.equal(status.reason, 'NonZeroExitCode');
      assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '7' }]);
    });

    test('TTY: the terminal is resized', async () => {
      const script =
        'stty -echo; echo ready; i=0; while [ $i -lt 100 ]; do s=$(stty size); [ "$s" = "30 100" ] && break; sleep 0.1; i=$((i+1)); done; echo "size $s"';
      const rc = await connectRc(execUrl(['sh', '-c', script], { stdin: true, tty: true }), {
        ...v,
        stdin: true,
        tty: true,
      });
      await rc.waitFor(/ready/);
      rc.resize(100, 30);
      const r = await rc.done;
      assert.match(r.stdout, /size 30 100/);
      assert.equal(JSON.parse(r.status).status, 'Success');
    });

    test('the client going away kills the process and ends the session', async () => {
      const before = h.backend.live.size;
      const rc = await connectRc(execUrl(['sh', '-c', 'echo started; exec sleep 600']), { ...v, stderr: true });
      await rc.waitFor(/started/);
      await eventually(() => h.backend.live.size === before + 1, 'the exec process to be tracked');
      rc.abort();
      await eventually(() => h.backend.live.size === before, 'the exec process to die');
      await eventually(() => h.server.sessions === 0, 'the session to end');
    });
  });
}

describe('exec over SPDY, older protocol versions', { timeout: 60_000 }, () => {
  test('v2: a failure is reported as text, success as an empty error stream', async () => {
    const ok = await (
      await connectRc(execUrl(['echo', 'fine']), { transport: 'spdy', protocol: 'v2.channel.k8s.io', stderr: true })
    ).done;
    assert.equal(ok.stdout, 'fine\n');
    assert.equal(ok.status, '');
    const bad = await (
      await connectRc(execUrl(['sh', '-c', 'exit 3']), {
        transport: 'spdy',
        protocol: 'v2.channel.k8s.io',
        stderr: true,
      })
    ).done;
    assert.match(bad.status, /command terminated with non-zero exit code.*3/);
  });

  test('v3 with a TTY gets a resize stream', async () => {
    const script =
      'echo ready; i=0; while [ $i -lt 100 ]; do s=$(stty size); [ "$s" = "40 120" ] && break; sleep 0.1; i=$((i+1)); done; echo "size $s"';
    const rc = await connectRc(execUrl(['sh', '-c', script], { stdin: true, tty: true }), {
      transport: 'spdy',
      protocol: 'v3.channel.k8s.io',
      stdin: true,
      tty: true,
    });
    await rc.waitFor(/ready/);
    rc.resize(120, 40);
    assert.match((await rc.done).stdout, /size 40 120/);
  });
});

describe('exec over WebSocket, pre-v4 channel protocols', { timeout: 60_000 }, () => {
  for (const protocol of ['channel.k8s.io', 'base64.channel.k8s.io', '']) {
    test(`${protocol || 'no subprotocol'}: output, and a failure as text`, async () => {
      const ok = await (await connectRc(execUrl(['echo', 'old']), { transport: 'ws', protocol, stderr: true })).done;
      assert.equal(ok.stdout, 'old\n');
      assert.equal(ok.status, '');
      const bad = await (
        await connectRc(execUrl(['sh', '-c', 'exit 2']), { transport: 'ws', protocol, stderr: true })
      ).done;
      assert.match(bad.status, /non-zero exit code/);
    });
  }
});

describe('exec: errors and bookkeeping', { timeout: 60_000 }, () => {
  test('a command that cannot start gives an InternalError status, not a hang', async () => {
    const rc = await connectRc(execUrl(['/nonexistent/binary']), {
      transport: 'spdy',
      protocol: 'v4.channel.k8s.io',
      stderr: true,
    });
    const status = JSON.parse((await rc.done).status);
    assert.equal(status.status, 'Failure');
  });

  test('sessions are counted and logged without the token', async () => {
    const url = execUrl(['true']);
    await (
      await connectRc(url, { transport: 'ws', protocol: 'v5.channel.k8s.io', stderr: true })
    ).done;
    await eventually(() => h.server.sessions === 0, 'the session to end');
    assert.equal(await metricValue(h.metrics, 'crimux_streaming_sessions', { kind: 'exec', backend: 'proc' }), 0);
    const token = url.split('/').pop() ?? '';
    assert.ok(token.length >= 40);
    assert.ok(!h.lines.some((l) => l.includes(token)), 'a token reached the log');
    assert.ok(
      h.lines.some(
        (l) =>
          l.includes('msg="streaming URL used"') &&
          l.includes('kind=exec') &&
          l.includes('container=c1') &&
          l.includes('remote='),
      ),
    );
  });
});
