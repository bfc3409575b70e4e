/**
 * The streaming end-to-end suite, shared by every backend (not a test file): a real crimux daemon, CRI Exec /
 * Attach / PortForward over its socket, and the returned URLs used by real clients of both protocols — the
 * test clients here, and `kubectl` (client-go) through a fake API server when it is installed, which stands in
 * for `crictl exec -it` / `crictl port-forward` (the same client library). What a backend does not implement
 * must come back as a clean Failure status, never a hang.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DaemonHandle } from '../helpers/daemon';
import { HTTP } from '../fixtures/images';
import { kubeconfig, POD, startFakeApiServer, type FakeApiServer } from './clients/fake-apiserver';
import { openForward, spdyPortForwardSession, wsPortForward } from './clients/portforward-client';
import { connectRc, type RcOptions } from './clients/remotecommand-client';

export interface E2EEnv {
  readonly daemon: DaemonHandle;
  readonly podId: string;
  /** The pod's hostname (the HTTP image answers with it). */
  readonly hostname: string;
  /** A running busybox container printing "tick N" every second; created with stdin when attachStdin. */
  readonly app: string;
  /**
   * What the backend implements. tty: 'resize' (a terminal that follows resizes), 'fixed' (a terminal, resizes
   * ignored), false (TTY exec refused). The HTTP image always listens on HTTP.port in the pod.
   */
  readonly supports: {
    readonly tty: 'resize' | 'fixed' | false;
    readonly attach: boolean;
    /** A refused port: 'error' on the error stream, or 'eof' (the backend's relay just ends: no message). */
    readonly refusedPort: 'error' | 'eof';
  };
}

const SPDY: Pick<RcOptions, 'transport' | 'protocol'> = { transport: 'spdy', protocol: 'v4.channel.k8s.io' };
const WS: Pick<RcOptions, 'transport' | 'protocol'> = { transport: 'ws', protocol: 'v5.channel.k8s.io' };
const HAVE_KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

export function streamingE2E(backend: string, env: () => E2EEnv): void {
  const request = 'GET / HTTP/1.0\r\n\r\n';
  const e = (): E2EEnv => env();
  const execUrl = async (cmd: string[], o: { stdin?: boolean; tty?: boolean } = {}): Promise<string> =>
    (
      await e().daemon.rt('Exec', {
        container_id: e().app,
        cmd,
        stdin: o.stdin ?? false,
        stdout: true,
        stderr: !o.tty,
        tty: o.tty ?? false,
      })
    ).url;

  describe(`${backend}: exec through the streaming server`, { timeout: 300_000 }, () => {
    for (const v of [SPDY, WS]) {
      test(`${v.transport}: echo, stderr and Success`, async () => {
        const r = await (
          await connectRc(await execUrl(['sh', '-c', 'echo hello; echo oops >&2']), { ...v, stderr: true })
        ).done;
        assert.equal(r.stdout, 'hello\n');
        assert.equal(r.stderr, 'oops\n');
        assert.equal(JSON.parse(r.status).status, 'Success', r.status);
      });

      test(`${v.transport}: stdin round trip`, async () => {
        const rc = await connectRc(await execUrl(['sh', '-c', 'cat; echo done'], { stdin: true }), {
          ...v,
          stdin: true,
          stderr: true,
        });
        rc.write('round trip\n');
        await rc.waitFor(/round trip\n/, 30_000);
        rc.endStdin();
        const r = await rc.done;
        assert.equal(r.stdout, 'round trip\ndone\n');
      });

      test(`${v.transport}: a non-zero exit code`, async () => {
        const r = await (await connectRc(await execUrl(['sh', '-c', 'exit 5']), { ...v, stderr: true })).done;
        const status = JSON.parse(r.status);
        assert.equal(status.reason, 'NonZeroExitCode', r.status);
        assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '5' }]);
      });
    }

    test('TTY with a resize', async () => {
      const tty = e().supports.tty;
      if (tty === 'fixed') {
        // A terminal, but resizes do not reach it: check that the process is on a terminal at all.
        const url = await execUrl(['sh', '-c', '[ -t 0 ] && [ -t 1 ] && echo on-a-terminal'], {
          stdin: true,
          tty: true,
        });
        const r = await (await connectRc(url, { ...WS, stdin: true, tty: true })).done;
        assert.match(r.stdout, /on-a-terminal/);
        return;
      }
      const script =
        'stty -echo; echo ready; i=0; while [ $i -lt 100 ]; do s=$(stty size); [ "$s" = "30 100" ] && break; sleep 0.1; i=$((i+1)); done; echo "size $s"';
      const rc = await connectRc(await execUrl(['sh', '-c', script], { stdin: true, tty: true }), {
        ...SPDY,
        stdin: true,
        tty: true,
      });
      if (!tty) {
        const status = JSON.parse((await rc.done).status);
        assert.equal(status.status, 'Failure');
        assert.match(status.message, /not implemented|unimplemented/i);
        return;
      }
      await rc.waitFor(/ready/, 30_000);
      rc.resize(100, 30);
      assert.match((await rc.done).stdout, /size 30 100/);
    });

    test("the client going away kills the exec'd process", async () => {
      const rc = await connectRc(await execUrl(['sh', '-c', 'echo started; exec sleep 4242']), { ...WS, stderr: true });
      await rc.waitFor(/started/, 30_000);
      rc.abort();
      const until = Date.now() + 20_000;
      for (;;) {
        const ps = await e().daemon.rt('ExecSync', { container_id: e().app, cmd: ['ps'], timeout: 10 });
        if (!ps.stdout.toString().includes('sleep 4242')) break;
        assert.ok(Date.now() < until, `exec'd process still running:\n${ps.stdout.toString()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    });
  });

  describe(`${backend}: attach through the streaming server`, { timeout: 300_000 }, () => {
    for (const v of [SPDY, WS]) {
      test(`${v.transport}: the container's output; leaving keeps it running`, async () => {
        const { url } = await e().daemon.rt('Attach', {
          container_id: e().app,
          stdin: false,
          stdout: true,
          stderr: true,
          tty: false,
        });
        const rc = await connectRc(url, { ...v, stderr: true });
        if (!e().supports.attach) {
          const status = JSON.parse((await rc.done).status);
          assert.equal(status.status, 'Failure');
          return;
        }
        await rc.waitFor(/tick \d+/, 30_000);
        rc.abort();
        await new Promise((r) => setTimeout(r, 500));
        const st = await e().daemon.rt('ContainerStatus', { container_id: e().app });
        assert.equal(st.status?.state, 'CONTAINER_RUNNING');
      });
    }
  });

  describe(`${backend}: port forward to a TCP server in the pod`, { timeout: 300_000 }, () => {
    test('spdy: two concurrent connections on one session', async () => {
      const { url } = await e().daemon.rt('PortForward', { pod_sandbox_id: e().podId, port: [HTTP.port] });
      const session = await spdyPortForwardSession(url);
      try {
        const conns = await Promise.all([openForward(session, HTTP.port, 0), openForward(session, HTTP.port, 1)]);
        for (const c of conns) c.data.end(request);
        for (const c of conns) {
          assert.match(await c.received, new RegExp(`200[\\s\\S]*${HTTP.body(e().hostname)}`));
          assert.equal(await c.error, '');
        }
      } finally {
        session.close();
      }
    });

    test('websocket: the data channel of the port', async () => {
      const { url } = await e().daemon.rt('PortForward', { pod_sandbox_id: e().podId, port: [HTTP.port] });
      const pf = await wsPortForward(url, 'v4.channel.k8s.io', 1);
      pf.send(0, request);
      assert.match(await pf.waitFor(0, new RegExp(HTTP.bodyPrefix), 30_000), /200/);
      pf.ws.close();
    });

    test('a port nothing listens on ends the connection (with an error where the backend can tell)', async () => {
      const { url } = await e().daemon.rt('PortForward', { pod_sandbox_id: e().podId, port: [] });
      const session = await spdyPortForwardSession(url);
      try {
        const c = await openForward(session, 1, 0);
        if (e().supports.refusedPort === 'error') assert.match(await c.error, /error forwarding port 1/);
        else assert.equal(await c.error, '');
        assert.equal(await c.received, '');
      } finally {
        session.close();
      }
    });
  });

  describe(
    `${backend}: kubectl through the daemon`,
    { skip: !HAVE_KUBECTL && 'kubectl is not installed', timeout: 300_000 },
    () => {
      let api: FakeApiServer;
      let dir = '';
      before(async () => {
        api = await startFakeApiServer(async (r) => {
          const d = e().daemon;
          if (r.kind === 'exec') return (await d.rt('Exec', { container_id: e().app, cmd: r.cmd, ...r.opts })).url;
          if (r.kind === 'attach') return (await d.rt('Attach', { container_id: e().app, ...r.opts })).url;
          return (await d.rt('PortForward', { pod_sandbox_id: e().podId, port: r.ports })).url;
        });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-kubectl-'));
        fs.writeFileSync(path.join(dir, 'kubeconfig'), kubeconfig(api.url));
      });
      after(async () => {
        await api?.close();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      });
      const kubectl = (
        args: string[],
        ws: boolean,
        input = '',
      ): Promise<{ code: number; stdout: string; stderr: string }> =>
        new Promise((resolve) => {
          const env = {
            ...process.env,
            KUBECTL_REMOTE_COMMAND_WEBSOCKETS: String(ws),
            KUBECTL_PORT_FORWARD_WEBSOCKETS: String(ws),
          };
          const p = execFile(
            'kubectl',
            ['--kubeconfig', path.join(dir, 'kubeconfig'), '--cache-dir', path.join(dir, 'cache'), ...args],
            { env, timeout: 60_000 },
            (err, stdout, stderr) =>
              resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr }),
          );
          p.stdin?.end(input);
        });

      for (const ws of [false, true]) {
        test(`exec -i over ${ws ? 'websocket' : 'spdy'}: stdin, output and exit code`, async () => {
          const r = await kubectl(['exec', '-i', POD, '--', 'sh', '-c', 'cat; exit 3'], ws, 'from kubectl\n');
          assert.equal(r.stdout, 'from kubectl\n', r.stderr);
          assert.equal(r.code, 3, r.stderr);
        });
      }

      test('port-forward (tunneled over websocket) to the HTTP server', async () => {
        const { spawn } = await import('node:child_process');
        const pf = spawn('kubectl', [
          '--kubeconfig',
          path.join(dir, 'kubeconfig'),
          '--cache-dir',
          path.join(dir, 'cache'),
          'port-forward',
          POD,
          `0:${HTTP.port}`,
        ]);
        try {
          let out = '';
          pf.stdout.on('data', (d: Buffer) => (out += d.toString()));
          pf.stderr.on('data', (d: Buffer) => (out += d.toString()));
          const until = Date.now() + 30_000;
          while (!/Forwarding from 127\.0\.0\.1:\d+/.test(out) && Date.now() < until)
            await new Promise((r) => setTimeout(r, 100));
          const local = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
          assert.ok(local > 0, out);
          const body = await new Promise<string>((resolve, reject) => {
            const c = net.connect(local, '127.0.0.1');
            let got = '';
            c.setTimeout(20_000, () => c.destroy(new Error('timed out')));
            c.on('connect', () => c.write(request));
            c.on('data', (d) => (got += d.toString()));
            c.on('close', () => resolve(got));
            c.on('error', reject);
          });
          assert.match(body, new RegExp(HTTP.body(e().hostname)));
        } finally {
          pf.kill('SIGKILL');
        }
      });
    },
  );
}
