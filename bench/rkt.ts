/**
 * Benchmark: pod and app lifecycle latency of the rkt backend on the built-in systemd-nspawn stage1.
 *
 *   npx tsx bench/rkt.ts                     BENCH_ROUNDS=10 to change the number of rounds (default 7)
 *
 * Two layers are timed, each round on a fresh pod:
 *  - stage1: the pod manager alone (host network, a busybox root from the host's static busybox): app sandbox,
 *    app add, app start (until running), exec (`true`), app stop (grace 0), app rm, stop, rm;
 *  - cri: the backend as the router calls it (shared OCI image store from the local test registry, CNI bridge):
 *    RunPodSandbox, CreateContainer, StartContainer, ExecSync, StopContainer(0), RemoveContainer, StopPodSandbox,
 *    RemovePodSandbox.
 * One warm-up round of each is not counted. Writes medians (and min/max) to bench/results/rkt.json and appends
 * a line to bench/results/rkt.md. Numbers come from a shared 2-vCPU VM: compare runs on the same machine only.
 */
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Backend } from '../src/backends/backend';
import { createRktBackend } from '../src/backends/rkt';
import { unmountAll } from '../src/backends/rkt/stage1/mounts';
import { loadConfig } from '../src/config/load';
import { OciImageStore } from '../src/images/store';
import { nullLogger } from '../src/log/logger';
import { Metrics } from '../src/metrics/metrics';
import { BUSYBOX } from '../test/fixtures/images';
import { testRegistryMap } from '../test/helpers/daemon';
import { ensureTestRegistry } from '../test/helpers/registry';
import { appSpec, collect } from '../test/rkt/contract';
import * as e from '../test/rkt/env';
import { TEST_IMAGE } from '../test/rkt/helpers/rootfs';
import { removeParent, stage1Fixture } from '../test/rkt/helpers/stage1';
import { createBackendHost } from '../src/backends/default-host';
import { withLogPath } from '../test/helpers/create-request';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const OUT = path.join(__dirname, 'results');
const SLOT = 9;
const log = nullLogger();

type Samples = Record<string, number[]>;

async function timed(samples: Samples, name: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = process.hrtime.bigint();
  await fn();
  (samples[name] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function benchStage1(samples: Samples): Promise<void> {
  const fx = await stage1Fixture('bench');
  try {
    const pm = await fx.open();
    for (let round = 0; round <= ROUNDS; round++) {
      const s: Samples = round === 0 ? {} : samples;
      let uuid = '';
      await timed(
        s,
        'stage1 app sandbox',
        async () => (uuid = await pm.sandbox({ userAnnotations: {}, userLabels: {}, network: { kind: 'host' } })),
      );
      await timed(s, 'stage1 app add', () => pm.appAdd(uuid, appSpec('0-app', TEST_IMAGE, ['sleep', '1000'])));
      await timed(s, 'stage1 app start', () => pm.appStart(uuid, '0-app'));
      await timed(s, 'stage1 app exec', async () =>
        collect(await pm.appExec(uuid, '0-app', ['true'], { tty: false, stdin: false })),
      );
      await timed(s, 'stage1 app stop', () => pm.appStop(uuid, '0-app', 0));
      await timed(s, 'stage1 app rm', () => pm.appRm(uuid, '0-app'));
      await timed(s, 'stage1 stop', () => pm.stop(uuid, true));
      await timed(s, 'stage1 rm', () => pm.rm(uuid));
    }
  } finally {
    await fx.cleanup();
  }
}

async function benchCri(samples: Samples): Promise<void> {
  await ensureTestRegistry();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crimux-rkt-bench-'));
  const parent = `crimux-rkt-bench-${process.pid}`;
  const config = loadConfig({
    env: {},
    overrides: {
      stateDir: path.join(dir, 'state'),
      runDir: path.join(dir, 'run'),
      'network.confDir': await e.writeCniConf(dir, SLOT),
      'network.netnsDir': path.join(dir, 'netns'),
      'images.registries': testRegistryMap(),
      'backends.rkt.enabled': true,
      'backends.rkt.stage1.cgroupParent': parent,
      handlers: { rkt: { backend: 'rkt', options: {} } },
      defaultHandler: 'rkt',
    },
  });
  const metrics = new Metrics({ processMetrics: false });
  const images = new OciImageStore({
    root: path.join(config.stateDir, 'images'),
    registries: config.images.registries,
    pullTimeoutSeconds: 120,
    log,
    metrics,
  });
  const ctx = () => e.ctx(log);
  let backend: Backend | undefined;
  try {
    await images.start();
    await images.pull(ctx(), { image: BUSYBOX.ref });
    backend = createRktBackend({
      config,
      handlers: [{ name: 'rkt', backend: 'rkt', options: {} }],
      log,
      stateDir: path.join(config.stateDir, 'backends', 'rkt'),
      runDir: path.join(config.runDir, 'rkt'),
      sharedImages: images,
      metrics,
      host: createBackendHost(),
    });
    await backend.start(ctx());
    const b = backend;
    for (let round = 0; round <= ROUNDS; round++) {
      const s: Samples = round === 0 ? {} : samples;
      const pod = `${round}`.padStart(2, '0').repeat(32);
      const cid = `c${round}`.padEnd(64, 'f');
      const sandboxConfig = e.sandboxConfig(`bench${round}`, path.join(dir, 'pods'));
      await timed(s, 'cri RunPodSandbox', () =>
        b.runPodSandbox(ctx(), {
          id: pod,
          handler: { name: 'rkt', backend: 'rkt', options: {} },
          config: sandboxConfig,
        }),
      );
      await timed(s, 'cri CreateContainer', () =>
        b.createContainer(
          ctx(),
          withLogPath({
            id: cid,
            sandboxId: pod,
            config: e.containerConfig('app', BUSYBOX.ref, ['sleep', '1000']),
            sandboxConfig,
          }),
        ),
      );
      await timed(s, 'cri StartContainer', () => b.startContainer(ctx(), cid));
      await timed(s, 'cri ExecSync', () => b.execSync(ctx(), cid, ['true'], 10));
      await timed(s, 'cri StopContainer(0)', () => b.stopContainer(ctx(), cid, 0));
      await timed(s, 'cri RemoveContainer', () => b.removeContainer(ctx(), cid));
      await timed(s, 'cri StopPodSandbox', () => b.stopPodSandbox(ctx(), pod));
      await timed(s, 'cri RemovePodSandbox', () => b.removePodSandbox(ctx(), pod));
    }
  } finally {
    for (const p of (await backend?.listPodSandboxes(ctx()).catch(() => [])) ?? [])
      await backend?.removePodSandbox(ctx(), p.id ?? '').catch(() => undefined);
    await images.close();
    await removeParent(parent);
    await e.cleanupNetwork(path.join(dir, 'netns'), SLOT);
    await unmountAll(dir).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const samples: Samples = {};
  await benchStage1(samples);
  await benchCri(samples);
  const results = Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [
      k,
      {
        medianMs: +median(v).toFixed(1),
        minMs: +Math.min(...v).toFixed(1),
        maxMs: +Math.max(...v).toFixed(1),
        n: v.length,
      },
    ]),
  );
  await mkdir(OUT, { recursive: true });
  const when = new Date().toISOString();
  const load = os.loadavg()[0]?.toFixed(1);
  await writeFile(
    path.join(OUT, 'rkt.json'),
    `${JSON.stringify({ when, rounds: ROUNDS, load1: Number(load), results }, null, 2)}\n`,
  );
  const line = Object.entries(results)
    .map(([k, v]) => `${k} ${v.medianMs} ms`)
    .join(', ');
  await appendFile(path.join(OUT, 'rkt.md'), `- ${when} (${ROUNDS} rounds, medians, load ${load}): ${line}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/rkt.ts failed: ${String(err)}\n`);
  process.exit(1);
});
