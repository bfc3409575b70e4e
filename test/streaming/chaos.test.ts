/**
 * Streaming chaos on every backend (issue #27): the sessions of chaos-scenarios.ts — exec, attach and
 * port-forward over SPDY and WebSocket, ended at every stage — against a real daemon with one shared pod per
 * backend (plus a host-network pod where the backend has them). After each session the daemon must still be
 * there (its process alive, a Version call answered) and give its file descriptors back (/proc/<pid>/fd, within
 * a small slack of the count after a warm-up). Figures go to bench/results/streaming-chaos.json ("daemon exits").
 *
 * CRIMUX_CHAOS_BACKENDS=runc,docker limits the backends (all four by default). The daemon runs with short
 * streaming timeouts (idle 3 s — 10 s on vm —, stream creation 2 s) so those stages take seconds.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SCENARIOS, untilHttpAnswers, within, type ChaosContext } from './chaos-scenarios';
import { startStreamingEnv, type StreamingBackend, type StreamingEnv } from './envs';

const BACKENDS = (process.env.CRIMUX_CHAOS_BACKENDS ?? 'runc,docker,rkt,vm')
  .split(',')
  .map((b) => b.trim()) as StreamingBackend[];
/** A VM under TCG can be silent for seconds while busy: a longer idle timeout there, or sessions would end early. */
const idleSeconds = (b: StreamingBackend): number => (b === 'vm' ? 10 : 3);
const PAIR_S = 2;
/** Descriptors a session may leave open for a while (a keep-alive socket, a lazily opened agent channel). */
const FD_SLACK = 4;
const RESULTS = path.resolve(__dirname, '../../bench/results/streaming-chaos.json');

interface Figures {
  sessions: number;
  skipped: number;
  daemonExits: number;
  versionFailures: number;
  fdBaseline: number;
  fdMax: number;
  fdEnd: number;
  seconds: number;
}

let echo: net.Server;
let hostPort = 0;
let closedPort = 0;

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

before(async () => {
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  });
  hostPort = await listen(echo);
  // A port nobody listens on, on the host and (the same number) in the pods.
  const probe = net.createServer();
  closedPort = await listen(probe);
  await new Promise<void>((r) => probe.close(() => r()));
});
after(() => echo?.close());

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

for (const backend of BACKENDS) {
  describe(`streaming chaos: ${backend}`, { timeout: 900_000 }, () => {
    let s: StreamingEnv | undefined;
    let ctx: ChaosContext | undefined;
    const fig: Figures = {
      sessions: 0,
      skipped: 0,
      daemonExits: 0,
      versionFailures: 0,
      fdBaseline: 0,
      fdMax: 0,
      fdEnd: 0,
      seconds: 0,
    };
    let started = 0;

    before(
      async () => {
        s = await startStreamingEnv(backend, {
          streaming: { idleTimeoutSeconds: idleSeconds(backend), streamCreationTimeoutSeconds: PAIR_S },
          hostNetworkPod: true,
        });
        const { env } = s;
        ctx = {
          daemon: env.daemon,
          podId: env.podId,
          app: env.app,
          hostPodId: s.hostPodId,
          hostPort,
          closedPort,
          idleMs: idleSeconds(backend) * 1000,
          pairTimeoutMs: PAIR_S * 1000,
        };
        await untilHttpAnswers(ctx);
        void env.daemon.exited().then(() => (fig.daemonExits += 1));
        started = Date.now();
      },
      { timeout: 900_000 },
    );

    after(
      async () => {
        if (s) {
          fig.seconds = Math.round((Date.now() - started) / 1000);
          fig.fdEnd = fdCount(s.env.daemon.pid());
          writeFigures(backend, fig);
        }
        await s?.stop();
      },
      { timeout: 180_000 },
    );

    /** Alive, answering, and back to (about) its descriptors. */
    const checkDaemon = async (what: string): Promise<void> => {
      // A crash comes a moment after the session (the daemon sees the client's reset asynchronously): let it.
      await new Promise((r) => setTimeout(r, 250));
      const d = ctx!.daemon;
      const pid = d.pid();
      assert.ok(fs.existsSync(`/proc/${pid}`), `the daemon exited during "${what}":\n${d.logs().slice(-3000)}`);
      try {
        await within(d.rt('Version', {}), 10_000, 'Version');
      } catch (err) {
        fig.versionFailures += 1;
        throw err;
      }
      let n = fdCount(pid);
      const until = Date.now() + 15_000;
      while (fig.fdBaseline && n > fig.fdBaseline + FD_SLACK && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 250));
        n = fdCount(pid);
      }
      fig.fdMax = Math.max(fig.fdMax, n);
      if (!fig.fdBaseline) fig.fdBaseline = n;
      else assert.ok(n <= fig.fdBaseline + FD_SLACK, `"${what}" left descriptors behind: ${fig.fdBaseline} → ${n}`);
    };

    for (const sc of SCENARIOS) {
      test(sc.name, { timeout: 120_000 }, async (t) => {
        const why = ctx && sc.skip?.(ctx);
        if (why) {
          fig.skipped += 1;
          t.skip(why);
          return;
        }
        await within(sc.run(ctx!), 90_000, sc.name);
        fig.sessions += 1;
        await checkDaemon(sc.name);
      });
    }

    test('the daemon is still the same process, with its descriptors back', async () => {
      await checkDaemon('the end');
      assert.equal(fig.daemonExits, 0);
    });
  });
}

function writeFigures(backend: string, fig: Figures): void {
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(fs.readFileSync(RESULTS, 'utf8')) as Record<string, unknown>;
  } catch {
    // first run
  }
  all[backend] = fig;
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, JSON.stringify(all, null, 2) + '\n');
}
