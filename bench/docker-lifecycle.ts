/**
 * Benchmark: the pod + container lifecycle on the docker backend, over crimux's CRI socket with a real dockerd,
 * the local test registry and a CNI bridge network. Per operation: median, p90, min, max (ms) over N rounds.
 *
 *   npx tsx bench/docker-lifecycle.ts            (BENCH_ROUNDS=20 to change the number of rounds)
 *
 * Writes bench/results/docker-lifecycle.json and .md. Runs as root (dockerd, CNI); numbers are from a shared
 * 2-vCPU VM, so compare runs on the same machine only.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, type DaemonHandle } from '../test/helpers/daemon';
import { ensureDockerd } from '../test/helpers/dockerd';
import { ensureTestRegistry } from '../test/helpers/registry';
import { BUSYBOX } from '../test/fixtures/images';
import { cleanupNetwork, writeCniConf } from '../test/docker/env';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const SLOT = 4;
const OUT = path.join(__dirname, 'results');

type Op =
  | 'RunPodSandbox'
  | 'CreateContainer'
  | 'StartContainer'
  | 'ExecSync'
  | 'ContainerStatus'
  | 'ListContainers'
  | 'StopContainer'
  | 'RemoveContainer'
  | 'StopPodSandbox'
  | 'RemovePodSandbox'
  | 'total';

async function timed<T>(samples: Map<Op, number[]>, op: Op, fn: () => Promise<T>): Promise<T> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  samples.set(op, [...(samples.get(op) ?? []), ms]);
  return r;
}

function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

async function oneRound(d: DaemonHandle, logRoot: string, i: number, samples: Map<Op, number[]>): Promise<void> {
  const uid = `bench-${process.pid}-${i}`;
  const config = {
    metadata: { name: `bench-${i}`, namespace: 'bench', uid, attempt: 0 },
    hostname: `bench-${i}`,
    log_directory: path.join(logRoot, uid),
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  } as const;
  const t0 = process.hrtime.bigint();
  const pod = await timed(samples, 'RunPodSandbox', () =>
    d.rt('RunPodSandbox', { config, runtime_handler: 'docker' }, { deadlineMs: 120_000 }),
  );
  const id = pod.pod_sandbox_id;
  const ctr = await timed(samples, 'CreateContainer', () =>
    d.rt('CreateContainer', {
      pod_sandbox_id: id,
      config: {
        metadata: { name: 'app' },
        image: { image: BUSYBOX.ref },
        command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'],
        log_path: 'app/0.log',
      },
      sandbox_config: config,
    }),
  );
  const cid = ctr.container_id;
  await timed(samples, 'StartContainer', () => d.rt('StartContainer', { container_id: cid }));
  const ex = await timed(samples, 'ExecSync', () =>
    d.rt('ExecSync', { container_id: cid, cmd: ['true'], timeout: 10 }),
  );
  if (ex.exit_code !== 0) throw new Error(`exec exit code ${ex.exit_code}`);
  await timed(samples, 'ContainerStatus', () => d.rt('ContainerStatus', { container_id: cid }));
  await timed(samples, 'ListContainers', () => d.rt('ListContainers', {}));
  await timed(samples, 'StopContainer', () => d.rt('StopContainer', { container_id: cid, timeout: 10 }));
  await timed(samples, 'RemoveContainer', () => d.rt('RemoveContainer', { container_id: cid }));
  await timed(samples, 'StopPodSandbox', () => d.rt('StopPodSandbox', { pod_sandbox_id: id }));
  await timed(samples, 'RemovePodSandbox', () => d.rt('RemovePodSandbox', { pod_sandbox_id: id }));
  samples.set('total', [...(samples.get('total') ?? []), Number(process.hrtime.bigint() - t0) / 1e6]);
}

async function main(): Promise<void> {
  await ensureDockerd();
  await ensureTestRegistry();
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-bench-docker-'));
  const logRoot = path.join(tmp, 'pods');
  const d = await startDaemon({
    config: {
      logLevel: 'info',
      handlers: { docker: { backend: 'docker', options: { dockerRuntime: 'runc' } } },
      backends: { docker: { enabled: true } },
      network: { confDir: await writeCniConf(tmp, SLOT) },
      security: { logRoot },
    },
  });
  const samples = new Map<Op, number[]>();
  try {
    await d.img('PullImage', { image: { image: BUSYBOX.ref, runtime_handler: 'docker' } }, { deadlineMs: 120_000 });
    await oneRound(d, logRoot, -1, new Map()); // warm-up: pulls the pause image, loads code paths
    for (let i = 0; i < ROUNDS; i++) await oneRound(d, logRoot, i, samples);
  } finally {
    await d.stop().catch(() => d.kill9());
    await cleanupNetwork(path.join(d.runDir, 'netns'), SLOT);
    await d.cleanup();
    await fs.rm(tmp, { recursive: true, force: true });
  }

  const ops = [...samples.entries()].map(([op, xs]) => {
    const s = [...xs].sort((a, b) => a - b);
    return {
      op,
      n: s.length,
      medianMs: round1(quantile(s, 0.5)),
      p90Ms: round1(quantile(s, 0.9)),
      minMs: round1(s[0] ?? NaN),
      maxMs: round1(s.at(-1) ?? NaN),
    };
  });
  const dockerVersion = execFileSync('dockerd', ['--version']).toString().trim();
  const result = {
    benchmark: 'docker-lifecycle',
    when: new Date().toISOString(),
    rounds: ROUNDS,
    host: { cpus: os.cpus().length, kernel: os.release(), node: process.version, dockerd: dockerVersion },
    setup:
      'CRI over the crimux socket; handler docker (dockerRuntime runc); CNI bridge+host-local+portmap; busybox from the local registry; container traps SIGTERM',
    ops,
  };
  await fs.mkdir(OUT, { recursive: true });
  await fs.writeFile(path.join(OUT, 'docker-lifecycle.json'), JSON.stringify(result, null, 2) + '\n');
  const md = [
    '# docker backend: pod + container lifecycle over CRI',
    '',
    `${result.when} · ${ROUNDS} rounds · ${result.host.cpus} vCPU · kernel ${result.host.kernel} · node ${result.host.node} · ${dockerVersion}`,
    '',
    result.setup + '.',
    '',
    '| operation | n | median ms | p90 ms | min ms | max ms |',
    '|---|---:|---:|---:|---:|---:|',
    ...ops.map((o) => `| ${o.op} | ${o.n} | ${o.medianMs} | ${o.p90Ms} | ${o.minMs} | ${o.maxMs} |`),
    '',
  ].join('\n');
  await fs.writeFile(path.join(OUT, 'docker-lifecycle.md'), md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
