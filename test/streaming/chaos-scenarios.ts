/**
 * The streaming chaos sessions (not a test file; chaos.test.ts runs them on every backend): exec, attach and
 * port-forward over SPDY, WebSocket and SPDY-in-WebSocket, each ended at a different stage — before the backend
 * connects, mid-copy, by a client reset, by the backend's EOF, by the idle timeout, by reusing a spent token —
 * plus ports nobody listens on and a host-network pod. A scenario only has to end (bounded); whether the daemon
 * survived it, and gave back its file descriptors, is checked by the runner after each one.
 */
import assert from 'node:assert/strict';
import { RstStatus } from '../../src/streaming/spdy/frames';
import type { SpdySession } from '../../src/streaming/spdy/session';
import { HTTP } from '../fixtures/images';
import type { DaemonHandle } from '../helpers/daemon';
import {
  openForward,
  spdyPortForwardSession,
  tunneledPortForwardSession,
  wsPortForward,
} from './clients/portforward-client';
import { connectRc } from './clients/remotecommand-client';
import { spdyUpgrade } from './clients/spdy-client';

export interface ChaosContext {
  readonly daemon: DaemonHandle;
  readonly podId: string;
  readonly app: string;
  /** A host-network pod, where the backend has them. */
  readonly hostPodId?: string;
  /** A TCP echo server on the host's 127.0.0.1 (what a host-network pod reaches). */
  readonly hostPort: number;
  /** A port nothing listens on, in the pod and on the host. */
  readonly closedPort: number;
  /** The daemon's streaming.idleTimeoutSeconds and streamCreationTimeoutSeconds, in ms. */
  readonly idleMs: number;
  readonly pairTimeoutMs: number;
}

export interface Scenario {
  readonly name: string;
  readonly skip?: (c: ChaosContext) => string | false;
  run(c: ChaosContext): Promise<void>;
}

const REQUEST = 'GET / HTTP/1.0\r\n\r\n';
const SPDY_RC = { transport: 'spdy', protocol: 'v4.channel.k8s.io' } as const;
const WS_RC = { transport: 'ws', protocol: 'v5.channel.k8s.io' } as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rejects after `ms`: every wait in the chaos test is bounded. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)),
  );
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const pfUrl = async (c: ChaosContext, pod = c.podId): Promise<string> =>
  (await c.daemon.rt('PortForward', { pod_sandbox_id: pod, port: [] })).url;
const execUrl = async (c: ChaosContext, cmd: string[], stdin = false): Promise<string> =>
  (await c.daemon.rt('Exec', { container_id: c.app, cmd, stdin, stdout: true, stderr: true, tty: false })).url;
const closed = (s: SpdySession): Promise<void> => new Promise((r) => (s.isClosed ? r() : s.once('close', () => r())));
const firstData = (s: NodeJS.ReadableStream): Promise<void> => new Promise((r) => s.once('data', () => r()));

/**
 * One forward that ends normally, the way client-go ends it (the #27 reproduction): the reply arrives, the user's
 * local connection closes, so the data stream is half-closed and the session closed right away — while the
 * backend's side of the connection may still be open.
 */
async function spdyNormal(session: SpdySession, port: number, expect: RegExp): Promise<void> {
  try {
    const f = await openForward(session, port, 0);
    let got = '';
    const replied = new Promise<void>((resolve) =>
      f.data.on('data', (d: Buffer) => {
        got += d.toString();
        if (expect.test(got)) resolve();
      }),
    );
    f.data.write(port === HTTP.port ? REQUEST : 'ping');
    await within(replied, 30_000, `forwarded reply matching ${expect}`);
    f.data.end();
  } finally {
    session.close();
  }
  await within(closed(session), 15_000, 'session close');
}

/** A forward the client drops (whole session destroyed) once the reply started. */
async function spdyResetMidCopy(session: SpdySession, port: number): Promise<void> {
  const f = await openForward(session, port, 0);
  f.data.write(port === HTTP.port ? 'GET / HTTP/1.0\r\n' : 'ping'); // an HTTP request left unfinished: the copy is live
  if (port !== HTTP.port) await within(firstData(f.data), 30_000, 'first bytes');
  else await sleep(300);
  session.destroy();
}

/**
 * Waits (bounded) until the pod's HTTP server answers through a port-forward: a container that just started may not
 * listen yet (a VM under TCG takes seconds), and a refused first forward is not what the chaos is about.
 */
export async function untilHttpAnswers(c: ChaosContext, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await within(
        spdyNormal(await spdyPortForwardSession(await pfUrl(c)), HTTP.port, /200/),
        20_000,
        'warm-up forward',
      );
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(1000);
    }
  }
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'port-forward spdy: normal end (#27)',
    run: async (c) => spdyNormal(await spdyPortForwardSession(await pfUrl(c)), HTTP.port, /200/),
  },
  {
    name: 'port-forward spdy: client gone before the backend connects',
    run: async (c) => {
      const s = await spdyPortForwardSession(await pfUrl(c));
      void openForward(s, HTTP.port, 0).catch(() => undefined);
      await sleep(5);
      s.destroy();
    },
  },
  {
    name: 'port-forward spdy: client reset mid-copy',
    run: async (c) => spdyResetMidCopy(await spdyPortForwardSession(await pfUrl(c)), HTTP.port),
  },
  {
    name: 'port-forward spdy: data stream reset, session goes on',
    run: async (c) => {
      const s = await spdyPortForwardSession(await pfUrl(c));
      const f = await openForward(s, HTTP.port, 0);
      f.data.write('GET / HTTP/1.0\r\n');
      await sleep(300);
      f.data.reset(RstStatus.CANCEL);
      const g = await openForward(s, HTTP.port, 1);
      g.data.end(REQUEST);
      assert.match(await within(g.received, 30_000, 'second forward'), /200/);
      s.close();
    },
  },
  {
    name: 'port-forward spdy: backend EOF while the client keeps its side open',
    run: async (c) => {
      const s = await spdyPortForwardSession(await pfUrl(c));
      const f = await openForward(s, HTTP.port, 0);
      f.data.write(REQUEST); // HTTP/1.0: the server answers and closes; we never send FIN
      assert.match(await within(f.received, 30_000, 'reply then EOF'), /200/);
      s.close();
    },
  },
  {
    name: 'port-forward spdy: a port nobody listens on',
    run: async (c) => {
      const s = await spdyPortForwardSession(await pfUrl(c));
      const f = await openForward(s, c.closedPort, 0);
      assert.match(await within(f.error, 30_000, 'error stream'), new RegExp(`error forwarding port ${c.closedPort}`));
      s.close();
    },
  },
  {
    name: 'port-forward spdy: half a pair until the stream-creation timeout',
    run: async (c) => {
      const s = await spdyPortForwardSession(await pfUrl(c));
      const e = await s.openStream({ port: String(HTTP.port), requestID: '0', streamType: 'error' });
      let text = '';
      e.on('data', (d: Buffer) => (text += d.toString()));
      await within(new Promise((r) => e.once('end', r)), c.pairTimeoutMs + 10_000, 'pair timeout');
      assert.match(text, /timed out/);
      s.close();
    },
  },
  {
    name: 'port-forward spdy: idle timeout',
    run: async (c) => {
      const s = await spdyPortForwardSession(await pfUrl(c));
      await openForward(s, HTTP.port, 0);
      await within(closed(s), c.idleMs + 10_000, 'idle close');
    },
  },
  {
    name: 'port-forward: a spent token and a token of another kind',
    run: async (c) => {
      const url = await pfUrl(c);
      await spdyNormal(await spdyPortForwardSession(url), HTTP.port, /200/);
      assert.equal((await spdyUpgrade(url, { protocols: ['portforward.k8s.io'] })).status, 404);
      const other = await pfUrl(c);
      assert.equal(
        (await spdyUpgrade(other.replace('/portforward/', '/exec/'), { protocols: ['v4.channel.k8s.io'] })).status,
        404,
      );
      assert.equal(
        (await spdyUpgrade(other, { protocols: ['portforward.k8s.io'] })).status,
        404,
        'a token used under the wrong kind is spent',
      );
    },
  },
  {
    name: 'port-forward spdy-in-websocket: normal end',
    run: async (c) => spdyNormal(await tunneledPortForwardSession(await pfUrl(c)), HTTP.port, /200/),
  },
  {
    name: 'port-forward spdy-in-websocket: client reset mid-copy',
    run: async (c) => spdyResetMidCopy(await tunneledPortForwardSession(await pfUrl(c)), HTTP.port),
  },
  {
    name: 'port-forward websocket: normal end',
    run: async (c) => {
      const pf = await wsPortForward(await pfUrl(c), 'v4.channel.k8s.io', 0).catch(() => undefined);
      assert.equal(pf, undefined, 'a websocket forward without ports is refused');
      const url = (await c.daemon.rt('PortForward', { pod_sandbox_id: c.podId, port: [HTTP.port] })).url;
      const ws = await wsPortForward(url, 'v4.channel.k8s.io', 1);
      ws.send(0, REQUEST);
      await ws.waitFor(0, /200/, 30_000);
      ws.ws.close();
    },
  },
  {
    name: 'port-forward websocket: client gone before the backend connects, and mid-copy',
    run: async (c) => {
      const url = async (): Promise<string> =>
        (await c.daemon.rt('PortForward', { pod_sandbox_id: c.podId, port: [HTTP.port] })).url;
      (await wsPortForward(await url(), 'v4.channel.k8s.io', 1)).ws.terminate();
      const ws = await wsPortForward(await url(), 'v4.channel.k8s.io', 1);
      ws.send(0, 'GET / HTTP/1.0\r\n');
      await sleep(300);
      ws.ws.terminate();
    },
  },
  {
    name: 'port-forward websocket: a port nobody listens on',
    run: async (c) => {
      const url = (await c.daemon.rt('PortForward', { pod_sandbox_id: c.podId, port: [c.closedPort] })).url;
      const ws = await wsPortForward(url, 'v4.channel.k8s.io', 1);
      await ws.waitFor(1, new RegExp(`error forwarding port ${c.closedPort}`), 30_000);
      ws.ws.close();
    },
  },
  {
    name: 'port-forward host-network pod: normal, reset mid-copy, nobody listening',
    skip: (c) => !c.hostPodId && 'this backend has no host-network pods',
    run: async (c) => {
      const pod = c.hostPodId ?? '';
      await spdyNormal(await spdyPortForwardSession(await pfUrl(c, pod)), c.hostPort, /^ping$/);
      await spdyResetMidCopy(await spdyPortForwardSession(await pfUrl(c, pod)), c.hostPort);
      const s = await spdyPortForwardSession(await pfUrl(c, pod));
      const f = await openForward(s, c.closedPort, 0);
      assert.match(await within(f.error, 30_000, 'error stream'), /error forwarding port/);
      s.close();
    },
  },
  ...(['spdy', 'ws'] as const).flatMap((t): Scenario[] => {
    const rc = t === 'spdy' ? SPDY_RC : WS_RC;
    return [
      {
        name: `exec ${t}: normal end, then its token again`,
        run: async (c) => {
          const url = await execUrl(c, ['echo', 'chaos']);
          const r = await within((await connectRc(url, { ...rc, stderr: true })).done, 30_000, 'exec');
          assert.equal(r.stdout, 'chaos\n');
          const again = await spdyUpgrade(url, { protocols: [SPDY_RC.protocol] });
          assert.equal(again.status, 404);
        },
      },
      {
        name: `exec ${t}: client reset mid-output`,
        run: async (c) => {
          const url = await execUrl(c, [
            'sh',
            '-c',
            'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; sleep 30',
          ]);
          const s = await connectRc(url, { ...rc, stderr: true });
          await s.waitFor(/line \d+/, 30_000);
          s.abort();
        },
      },
      {
        name: `exec ${t}: the process exits while the client still sends stdin`,
        run: async (c) => {
          const s = await connectRc(await execUrl(c, ['sh', '-c', 'head -c 10 >/dev/null; exit 3'], true), {
            ...rc,
            stdin: true,
            stderr: true,
          });
          for (let i = 0; i < 50; i++) s.write('x'.repeat(1000));
          const r = await within(s.done, 30_000, 'exec with stdin');
          assert.match(r.status, /3/);
        },
      },
      {
        name: `attach ${t}: client reset while output flows`,
        run: async (c) => {
          const { url } = await c.daemon.rt('Attach', {
            container_id: c.app,
            stdin: false,
            stdout: true,
            stderr: true,
            tty: false,
          });
          const s = await connectRc(url, { ...rc, stderr: true });
          await s.waitFor(/tick \d+/, 30_000);
          s.abort();
        },
      },
    ];
  }),
  {
    name: 'exec spdy: client gone before it created its streams',
    run: async (c) => {
      const up = await spdyUpgrade(await execUrl(c, ['sleep', '30']), { protocols: [SPDY_RC.protocol] });
      up.session?.destroy();
    },
  },
  {
    name: 'exec: idle timeout on a silent process',
    run: async (c) => {
      const s = await connectRc(await execUrl(c, ['sleep', '300']), { ...WS_RC, stderr: true });
      await within(s.done, c.idleMs + 15_000, 'idle close');
    },
  },
];
