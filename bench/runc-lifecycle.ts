/**
 * Benchmark: the same pod + container lifecycle through crimux (runc backend: runc under conmon) and, when it is
 * installed, containerd's CRI plugin (runc under containerd-shim-runc-v2), in one run on one machine, alternating
 * which goes first each round. Both get the same CNI conflist (own bridges), the same busybox image from the local
 * registry (containerd through a hosts.toml that *replaces* the registry hosts), the same kubelet-style
 * cgroup_parent, and a container that exits on SIGTERM.
 *
 *   npx tsx bench/runc-lifecycle.ts            (BENCH_ROUNDS=20 to change the number of rounds)
 *
 * A third series drives the runc backend in-process (bench/runc-direct.ts), to show what the backend costs apart
 * from the daemon around it.
 *
 * Writes bench/results/runc-lifecycle.json and .md: per runtime and operation median/p90/min/max ms, and the
 * crimux/containerd ratio of the medians against the issue's 1.1× target. Runs as root; numbers come from a
 * shared 2-vCPU VM, so compare runs on the same machine only.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { removeCgroupV1 } from '../src/host/cgroup-v1';
import { BUSYBOX, PAUSE } from '../test/fixtures/images';
import { CriClient } from '../test/helpers/cri-client';
import { startDaemon, type DaemonHandle } from '../test/helpers/daemon';
import { ensureTestRegistry, testRegistryPort } from '../test/helpers/registry';
import { cleanupNetwork, mountsMentioning, run, writeCniConf } from '../test/runc/env';
import { startDirectBackend, type DirectBackend } from './runc-direct';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const SLOTS = { crimux: 5, containerd: 6, backend: 7 } as const;
const OUT = path.join(__dirname, 'results');
const OPS = [
  'RunPodSandbox',
  'CreateContainer',
  'StartContainer',
  'ExecSync',
  'ContainerStatus',
  'StopContainer',
  'RemoveContainer',
  'StopPodSandbox',
  'RemovePodSandbox',
  'total',
] as const;
/** The operations the issue sets the 1.1× target for. */
const TARGET_OPS = [
  'RunPodSandbox',
  'CreateContainer',
  'StartContainer',
  'StopContainer',
  'RemoveContainer',
  'StopPodSandbox',
  'RemovePodSandbox',
];
type Op = (typeof OPS)[number];
type Runtime = keyof typeof SLOTS;
type Samples = Map<Op, number[]>;
/** What a round needs of a client: the CRI client, or the in-process backend behind the same surface. */
interface Client {
  rt(method: string, req: Record<string, unknown>, opts?: { deadlineMs?: number }): Promise<Record<string, unknown>>;
}

async function timed<T>(samples: Samples, op: Op, fn: () => Promise<T>): Promise<T> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  samples.set(op, [...(samples.get(op) ?? []), Number(process.hrtime.bigint() - t0) / 1e6]);
  return r;
}

async function oneRound(
  cri: Client,
  logRoot: string,
  cgroupRoot: string,
  tag: string,
  samples: Samples,
): Promise<void> {
  const uid = `bench-${process.pid}-${tag}`;
  const config = {
    metadata: { name: `bench-${tag}`, namespace: 'bench', uid, attempt: 0 },
    hostname: `bench-${tag}`,
    log_directory: path.join(logRoot, uid),
    linux: {
      cgroup_parent: `${cgroupRoot}/pod${tag}`,
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  } as const;
  const t0 = process.hrtime.bigint();
  const id = (
    await timed(samples, 'RunPodSandbox', () =>
      cri.rt('RunPodSandbox', { config, runtime_handler: '' }, { deadlineMs: 120_000 }),
    )
  ).pod_sandbox_id as string;
  const ctrConfig = {
    metadata: { name: 'app' },
    image: { image: BUSYBOX.ref },
    command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'],
    log_path: 'app/0.log',
  };
  const cid = (
    await timed(samples, 'CreateContainer', () =>
      cri.rt('CreateContainer', { pod_sandbox_id: id, config: ctrConfig, sandbox_config: config }),
    )
  ).container_id as string;
  await timed(samples, 'StartContainer', () => cri.rt('StartContainer', { container_id: cid }));
  const ex = await timed(samples, 'ExecSync', () =>
    cri.rt('ExecSync', { container_id: cid, cmd: ['true'], timeout: 10 }),
  );
  if (ex.exit_code !== 0) throw new Error(`exec exit code ${ex.exit_code}`);
  await timed(samples, 'ContainerStatus', () => cri.rt('ContainerStatus', { container_id: cid }));
  await timed(samples, 'StopContainer', () => cri.rt('StopContainer', { container_id: cid, timeout: 10 }));
  await timed(samples, 'RemoveContainer', () => cri.rt('RemoveContainer', { container_id: cid }));
  await timed(samples, 'StopPodSandbox', () => cri.rt('StopPodSandbox', { pod_sandbox_id: id }));
  await timed(samples, 'RemovePodSandbox', () => cri.rt('RemovePodSandbox', { pod_sandbox_id: id }));
  samples.set('total', [...(samples.get('total') ?? []), Number(process.hrtime.bigint() - t0) / 1e6]);
}

/** A private containerd (own root, state, socket, CNI conf, registry hosts) with its CRI plugin. */
async function startContainerd(
  dir: string,
  confDir: string,
): Promise<{ cri: CriClient; proc: ChildProcess; version: string }> {
  const socket = path.join(dir, 'containerd.sock');
  const port = testRegistryPort();
  for (const host of ['docker.io', 'registry.k8s.io']) {
    await fs.mkdir(path.join(dir, 'certs.d', host), { recursive: true });
    // `server` replaces the upstream host: a miss fails locally instead of going to the internet.
    await fs.writeFile(
      path.join(dir, 'certs.d', host, 'hosts.toml'),
      `server = "http://127.0.0.1:${port}"\n[host."http://127.0.0.1:${port}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
  }
  const toml = `version = 2
root = "${dir}/root"
state = "${dir}/state"
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE.ref}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${confDir}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${dir}/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
`;
  await fs.writeFile(path.join(dir, 'config.toml'), toml);
  const log = await fs.open(path.join(dir, 'containerd.log'), 'w');
  const proc = spawn('containerd', ['--config', path.join(dir, 'config.toml')], { stdio: ['ignore', log.fd, log.fd] });
  await log.close();
  const cri = new CriClient(socket);
  for (let i = 0; ; i++) {
    try {
      const v = await cri.rt('Version', { version: 'v1' }, { deadlineMs: 2000 });
      return { cri, proc, version: `${v.runtime_name} ${v.runtime_version}` };
    } catch (err) {
      if (i > 100 || proc.exitCode !== null)
        throw new Error(`containerd did not start: ${String(err)}`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function stats(xs: number[]): { n: number; medianMs: number; p90Ms: number; minMs: number; maxMs: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
  const r = (n: number): number => Math.round(n * 10) / 10;
  return { n: s.length, medianMs: r(q(0.5)), p90Ms: r(q(0.9)), minMs: r(s[0] ?? NaN), maxMs: r(s.at(-1) ?? NaN) };
}

function hasContainerd(): boolean {
  try {
    execFileSync('containerd', ['--version'], { stdio: 'ignore' });
    execFileSync('containerd-shim-runc-v2', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  await ensureTestRegistry();
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-bench-runc-'));
  const logRoot = path.join(tmp, 'pods');
  const cgroupRoot = `/crimux-bench-${process.pid}`;
  const samples: Record<Runtime, Samples> = { crimux: new Map(), containerd: new Map(), backend: new Map() };
  const clients = new Map<Runtime, Client>();
  const skipped: string[] = [];
  let daemon: DaemonHandle | undefined;
  let ctrd: Awaited<ReturnType<typeof startContainerd>> | undefined;
  let direct: DirectBackend | undefined;
  try {
    daemon = await startDaemon({
      config: {
        logLevel: 'info',
        handlers: { runc: { backend: 'runc', options: {} } },
        backends: { runc: { enabled: true } },
        network: { confDir: await writeCniConf(path.join(tmp, 'crimux'), SLOTS.crimux) },
        security: { logRoot },
      },
    });
    clients.set('crimux', daemon.cri as unknown as Client);
    direct = await startDirectBackend(path.join(tmp, 'backend'), SLOTS.backend, `${cgroupRoot}-direct`);
    clients.set('backend', direct);
    if (hasContainerd()) {
      const dir = path.join(tmp, 'containerd');
      ctrd = await startContainerd(dir, await writeCniConf(dir, SLOTS.containerd));
      clients.set('containerd', ctrd.cri as unknown as Client);
    } else {
      skipped.push('containerd: not installed (containerd and containerd-shim-runc-v2 must be on PATH)');
    }
    for (const cri of [daemon.cri, ctrd?.cri]) {
      for (const image of [BUSYBOX.ref, PAUSE.ref])
        await cri?.img('PullImage', { image: { image } }, { deadlineMs: 120_000 });
    }
    for (const [name, cri] of clients) {
      await oneRound(cri, logRoot, cgroupRoot, `${name}-warmup`, new Map()); // loads code paths and caches
    }
    const order = [...clients.keys()];
    for (let i = 0; i < ROUNDS; i++) {
      for (const name of i % 2 === 0 ? order : [...order].reverse())
        await oneRound(clients.get(name)!, logRoot, cgroupRoot, `${name}-${i}`, samples[name]);
    }
  } finally {
    await daemon?.stop().catch(() => daemon?.kill9());
    await direct?.close().catch(() => undefined);
    await removeCgroupV1(`${cgroupRoot}-direct`);
    if (ctrd) {
      ctrd.cri.close();
      ctrd.proc.kill('SIGTERM');
      await new Promise((r) => (ctrd!.proc.exitCode !== null ? r(null) : ctrd!.proc.once('exit', r)));
    }
    await cleanupNetwork(path.join(daemon?.runDir ?? tmp, 'netns'), SLOTS.crimux);
    await cleanupNetwork(path.join(tmp, 'netns-none'), SLOTS.containerd);
    for (const m of mountsMentioning(tmp).reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
    await daemon?.cleanup();
    await removeCgroupV1(cgroupRoot);
    await fs.rm(tmp, { recursive: true, force: true });
  }

  const table = OPS.map((op) => {
    const c = stats(samples.crimux.get(op) ?? []);
    const b = stats(samples.backend.get(op) ?? []);
    const d = samples.containerd.get(op) ? stats(samples.containerd.get(op)!) : undefined;
    const ratio = d ? Math.round((c.medianMs / d.medianMs) * 100) / 100 : undefined;
    const backendRatio = d ? Math.round((b.medianMs / d.medianMs) * 100) / 100 : undefined;
    return {
      op,
      crimux: c,
      backendInProcess: b,
      containerd: d,
      ratio,
      backendRatio,
      target: TARGET_OPS.includes(op) ? 1.1 : undefined,
    };
  });
  const result = {
    benchmark: 'runc-lifecycle',
    when: new Date().toISOString(),
    rounds: ROUNDS,
    host: { cpus: os.cpus().length, kernel: os.release(), node: process.version, containerd: ctrd?.version ?? null },
    setup:
      'CRI over unix sockets; crimux runc backend (runc 1.1 + conmon) vs containerd CRI (runc 1.1 + shim v2); same CNI bridge+host-local+portmap conflist, kubelet-style cgroup_parent, busybox from the local registry; container traps SIGTERM; order alternates per round',
    skipped,
    ops: table,
  };
  await fs.mkdir(OUT, { recursive: true });
  await fs.writeFile(path.join(OUT, 'runc-lifecycle.json'), JSON.stringify(result, null, 2) + '\n');
  const md = [
    '# runc backend vs containerd: pod + container lifecycle over CRI (medians)',
    '',
    `${result.when} · ${ROUNDS} rounds · ${result.host.cpus} vCPU · kernel ${result.host.kernel} · node ${result.host.node} · ${result.host.containerd ?? 'containerd skipped'}`,
    '',
    result.setup + '.',
    ...(skipped.length ? ['', `Skipped: ${skipped.join('; ')}.`] : []),
    '',
    'Columns: crimux over its CRI socket; the runc backend alone, in-process (what the daemon around it adds per call is the difference); containerd over its CRI socket. Ratios are crimux/containerd and backend/containerd medians.',
    '',
    '| operation | crimux ms (p90) | runc backend in-process ms (p90) | containerd ms (p90) | ratio | backend ratio | target |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...table.map(
      (t) =>
        `| ${t.op} | ${t.crimux.medianMs} (${t.crimux.p90Ms}) | ${t.backendInProcess.medianMs} (${t.backendInProcess.p90Ms}) | ${t.containerd ? `${t.containerd.medianMs} (${t.containerd.p90Ms})` : '—'} | ${t.ratio ?? '—'} | ${t.backendRatio ?? '—'} | ${t.target ? (t.ratio !== undefined && t.ratio <= t.target ? `≤ ${t.target} ✓` : `≤ ${t.target} ✗`) : ''} |`,
    ),
    '',
  ].join('\n');
  await fs.writeFile(path.join(OUT, 'runc-lifecycle.md'), md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
