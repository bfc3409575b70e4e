/**
 * Issue #27: no stream crimux creates or receives may end the daemon with an unhandled 'error'. One test per
 * KIND of stream, each with the shape a real backend has, driven through the real streaming server:
 *  - a backend connection that is a `Duplex.from()` relay (docker: destroy emits AbortError — the original crash),
 *  - a backend connection whose teardown fails (vm: the agent channel is gone) or that errors after the forward,
 *  - process streams of an exec whose pipes fail and whose close() throws (vm with a dead agent channel),
 *  - a child process's pipes (EPIPE on stdin of a process that exited: runc/rkt exec, relays, CNI plugins),
 *  - a socket reset by its peer (hijacked Docker connection, QMP/agent sockets),
 *  - an HTTP response body cut short (Docker API streams, registry blobs).
 * Every test checks that no uncaught exception happened in this process, which plays the daemon.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { after, afterEach, before, describe, test } from 'node:test';
import type { CallContext, ProcessStreams, StreamOptions } from '../../src/backends/backend';
import { destroyQuietly, handleChildErrors, handleErrors } from '../../src/util/streams';
import { startHarness, type Harness } from './clients/harness';
import { openForward, spdyPortForwardSession, wsPortForward } from './clients/portforward-client';
import { connectRc } from './clients/remotecommand-client';
import { ProcessBackend } from './clients/process-backend';

type ConnShape = 'duplex-from' | 'failing-destroy' | 'late-error';

/** A backend whose port-forward connections and exec streams have the hostile shapes listed above. */
class HostileBackend extends ProcessBackend {
  shape: ConnShape = 'duplex-from';

  override async portForward(_ctx: CallContext, _sandboxId: string, port: number): Promise<Duplex> {
    if (this.shape === 'duplex-from') return dockerLikeRelay(port);
    const sock = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    if (this.shape === 'late-error') {
      sock.once('close', () => setTimeout(() => sock.emit('error', new Error('late failure after the forward')), 20));
      return sock;
    }
    // A hand-made relay whose teardown reports a failure (the channel it would notify is gone).
    const d = new Duplex({
      read: () => undefined,
      write: (c: Buffer, _e, cb) => sock.write(c, () => cb()),
      final: (cb) => {
        sock.end();
        cb();
      },
      destroy: (_err, cb) => {
        sock.destroy();
        cb(new Error('send close: agent channel closed'));
      },
    });
    sock.on('data', (b: Buffer) => d.push(b));
    sock.on('end', () => d.push(null));
    return d;
  }

  override async exec(_ctx: CallContext, _id: string, _cmd: string[], opts: StreamOptions): Promise<ProcessStreams> {
    const stdout = new PassThrough();
    const stdin = new Writable({ write: (_c, _e, cb) => cb(new Error('EPIPE: the process is gone')) });
    let exit!: (v: { exitCode: number }) => void;
    const exited = new Promise<{ exitCode: number }>((r) => (exit = r));
    stdout.write('started\n');
    setTimeout(() => {
      stdout.destroy(new Error('pipe broke mid-copy'));
      exit({ exitCode: 7 });
    }, 100);
    return {
      stdin: opts.stdin ? stdin : undefined,
      stdout,
      resize: () => undefined,
      wait: () => exited,
      close: () => {
        throw new Error('killStream: agent channel closed');
      },
    };
  }
}

/** The docker backend's relay as it was: a child piping its stdio to the port, wrapped in Duplex.from(). */
async function dockerLikeRelay(port: number): Promise<Duplex> {
  const script = [
    "const s = require('net').connect(Number(process.argv[1]), '127.0.0.1');",
    "s.on('connect', () => { process.stderr.write('connected\\n'); process.stdin.pipe(s); s.pipe(process.stdout); });",
    "s.on('error', () => process.exit(1));",
    "s.on('close', () => process.exit(0));",
    "process.stdin.on('end', () => s.end());",
  ].join('\n');
  const child = spawn(process.execPath, ['-e', script, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.stderr.once('data', () => resolve());
    child.once('exit', () => reject(new Error('relay exited')));
  });
  const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
  duplex.on('close', () => child.kill('SIGKILL'));
  return duplex;
}

const uncaught: unknown[] = [];
const record = (err: unknown): void => void uncaught.push(err);
let h: Harness;
let backend: HostileBackend;
let echo: net.Server;
let echoPort = 0;

before(async () => {
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  h = await startHarness();
  backend = new HostileBackend();
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  echoPort = (echo.address() as net.AddressInfo).port;
});
after(async () => {
  await h?.close();
  echo?.close();
  process.off('uncaughtException', record);
  process.off('unhandledRejection', record);
});
afterEach(async () => {
  await new Promise((r) => setTimeout(r, 150)); // late errors fire after the session
  assert.deepEqual(uncaught.splice(0).map(String), [], 'an error escaped to the process');
});

const pfUrl = (): string => h.server.portForward({ backend, sandboxId: 'pod', ports: [echoPort] });

describe('port-forward backend connections', { timeout: 30_000 }, () => {
  for (const shape of ['duplex-from', 'failing-destroy', 'late-error'] as const) {
    test(`${shape}: a SPDY forward that ends normally`, async () => {
      backend.shape = shape;
      const session = await spdyPortForwardSession(pfUrl());
      try {
        const c = await openForward(session, echoPort, 0);
        c.data.end('ping');
        assert.equal(await c.received, 'ping');
        assert.equal(await c.error, '');
      } finally {
        session.close();
      }
    });

    test(`${shape}: a SPDY session the client drops mid-copy`, async () => {
      backend.shape = shape;
      const session = await spdyPortForwardSession(pfUrl());
      const c = await openForward(session, echoPort, 0);
      c.data.write('ping');
      await new Promise<void>((resolve) => c.data.once('data', () => resolve()));
      session.destroy();
      await new Promise((r) => setTimeout(r, 100));
    });

    test(`${shape}: a WebSocket forward the client resets mid-copy`, async () => {
      backend.shape = shape;
      const pf = await wsPortForward(pfUrl(), 'v4.channel.k8s.io', 1);
      pf.send(0, 'ping');
      await pf.waitFor(0, /ping/);
      pf.ws.terminate();
      await new Promise((r) => setTimeout(r, 100));
    });
  }

  test('the unfixed shape still fails without the guard (the test can see the bug)', async () => {
    const d = Duplex.from({ readable: new PassThrough(), writable: new PassThrough() });
    const err = await new Promise<Error>((resolve) => {
      d.once('error', resolve);
      d.destroy();
    });
    assert.equal(err.name, 'AbortError');
  });
});

describe('exec process streams', { timeout: 30_000 }, () => {
  for (const transport of ['spdy', 'ws'] as const) {
    test(`${transport}: stdout breaks mid-copy, stdin fails, close() throws`, async () => {
      const url = h.server.exec({
        backend,
        containerId: 'c',
        cmd: ['x'],
        opts: { stdin: true, stdout: true, stderr: false, tty: false },
      });
      const rc = await connectRc(url, {
        transport,
        protocol: transport === 'spdy' ? 'v4.channel.k8s.io' : 'v5.channel.k8s.io',
        stdin: true,
      });
      rc.write('input that cannot be delivered\n');
      const r = await rc.done;
      assert.match(r.stdout, /started/);
      assert.match(r.status, /7/);
    });
  }
});

describe('streams created by crimux', { timeout: 30_000 }, () => {
  test('child-process pipes: EPIPE on the stdin of a process that exited', async () => {
    const child = handleChildErrors(spawn('sh', ['-c', 'exit 0'], { stdio: ['pipe', 'pipe', 'pipe'] }), 'test child');
    await new Promise((r) => child.once('exit', r));
    for (let i = 0; i < 20; i++) child.stdin.write(Buffer.alloc(65536));
    await new Promise((r) => setTimeout(r, 100));
  });

  test('a socket reset by its peer after it was handed over', async () => {
    const srv = net.createServer((s) => s.resetAndDestroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const sock = handleErrors(net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1'), 'test socket');
    await new Promise((r) => sock.once('close', r));
    srv.close();
  });

  test('an HTTP response body cut short', async () => {
    const srv = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const res = await new Promise<http.IncomingMessage>((resolve) =>
      http.get({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, agent: false }, (r) =>
        resolve(handleErrors(r, 'test body')),
      ),
    );
    res.resume();
    await new Promise((r) => res.once('close', r));
    srv.close();
  });

  test('destroyQuietly: a Duplex.from stream, twice, and undefined', () => {
    const d = Duplex.from({ readable: new PassThrough(), writable: new PassThrough() });
    destroyQuietly(d);
    destroyQuietly(d);
    destroyQuietly(undefined);
  });
});
