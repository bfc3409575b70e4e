/**
 * Hostile input: thousands of generated CRI requests against a real daemon over its socket. Every one must be
 * answered with a clear gRPC status (never UNKNOWN, never INTERNAL, never a hang) or a correct result, and the
 * daemon must neither crash nor leak file descriptors or memory. Figures go to bench/results/fuzz.json.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { grpc } from '../helpers/cri-client';
import { Rng, nastyContainerConfig, nastyInt64, nastyPodConfig, nastyString } from '../helpers/fuzz';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import * as e from '../runc/env';

const REQUESTS = Number(process.env.CRIMUX_FUZZ_REQUESTS ?? 3000);
const SEED = Number(process.env.CRIMUX_FUZZ_SEED ?? 20261128);
const CLEAR = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.UNIMPLEMENTED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAVAILABLE,
]);

// A real runc backend behind the daemon, so requests that pass validation really create pods and containers.
const SLOT = 13;
const cgroupParent = `/crimux-fuzz-${process.pid}`;
let d: DaemonHandle;
let dir: string;
before(async () => {
  dir = await e.tempDir('crimux-fuzz-');
  d = await startDaemon({
    config: {
      logLevel: 'warn',
      handlers: { runc: { backend: 'runc', options: { runtimeRoot: path.join(dir, 'runc-root') } } },
      backends: { runc: { enabled: true, cgroupParent } },
      network: { confDir: await e.writeCniConf(dir, SLOT) },
    },
  });
});
after(async () => {
  if (!d) return;
  for (const p of (await d.rt('ListPodSandbox', {}).catch(() => ({ items: [] }))).items ?? []) {
    await d.rt('RemovePodSandbox', { pod_sandbox_id: p.id ?? '' }, { deadlineMs: 60_000 }).catch(() => undefined);
  }
  await d.stop().catch(() => d.kill9());
  await e.cleanupNetwork(path.join(d.runDir, 'netns'), SLOT);
  for (const m of e.mountsMentioning(d.dir)) await e.run('umount', ['--lazy', m]).catch(() => undefined);
  await d.cleanup();
  await removeCgroupV1(cgroupParent).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}
function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

type Gen = (r: Rng) => [method: string, service: 'rt' | 'img', req: Record<string, unknown>];
const GENS: Gen[] = [
  (r) => [
    'RunPodSandbox',
    'rt',
    { config: nastyPodConfig(r), runtime_handler: r.pick(['', 'runc', 'vm', 'nope', nastyString(r)]) },
  ],
  (r) => ['StopPodSandbox', 'rt', { pod_sandbox_id: nastyString(r) }],
  (r) => ['RemovePodSandbox', 'rt', { pod_sandbox_id: nastyString(r) }],
  (r) => ['PodSandboxStatus', 'rt', { pod_sandbox_id: nastyString(r), verbose: r.chance(0.5) }],
  (r) => [
    'ListPodSandbox',
    'rt',
    { filter: { id: nastyString(r), label_selector: { [nastyString(r)]: nastyString(r) } } },
  ],
  (r) => [
    'CreateContainer',
    'rt',
    { pod_sandbox_id: nastyString(r), config: nastyContainerConfig(r), sandbox_config: nastyPodConfig(r) },
  ],
  (r) => ['StartContainer', 'rt', { container_id: nastyString(r) }],
  (r) => ['StopContainer', 'rt', { container_id: nastyString(r), timeout: nastyInt64(r) }],
  (r) => ['RemoveContainer', 'rt', { container_id: nastyString(r) }],
  (r) => ['ContainerStatus', 'rt', { container_id: nastyString(r), verbose: true }],
  (r) => [
    'ListContainers',
    'rt',
    { filter: { pod_sandbox_id: nastyString(r), state: { state: r.pick([0, 1, 2, 3]) } } },
  ],
  (r) => ['ExecSync', 'rt', { container_id: nastyString(r), cmd: [nastyString(r)], timeout: nastyInt64(r) }],
  (r) => [
    'Exec',
    'rt',
    { container_id: nastyString(r), cmd: [nastyString(r)], tty: r.chance(0.5), stdout: r.chance(0.5) },
  ],
  (r) => ['PortForward', 'rt', { pod_sandbox_id: nastyString(r), port: [r.pick([0, -1, 80, 70000])] }],
  (r) => [
    'UpdateContainerResources',
    'rt',
    { container_id: nastyString(r), linux: { memory_limit_in_bytes: nastyInt64(r), cpu_shares: nastyInt64(r) } },
  ],
  (r) => ['ContainerStats', 'rt', { container_id: nastyString(r) }],
  (r) => ['ReopenContainerLog', 'rt', { container_id: nastyString(r) }],
  (r) => ['UpdateRuntimeConfig', 'rt', { runtime_config: { network_config: { pod_cidr: nastyString(r) } } }],
  (r) => [
    'PullImage',
    'img',
    {
      image: { image: nastyString(r), runtime_handler: r.pick(['', 'nope']) },
      auth: { username: 'u', password: 'fuzz-secret-pw' },
    },
  ],
  (r) => ['ImageStatus', 'img', { image: { image: nastyString(r) }, verbose: true }],
  (r) => ['RemoveImage', 'img', { image: { image: nastyString(r) } }],
  (r) => ['ListImages', 'img', { filter: { image: { image: nastyString(r) } } }],
];

test(`${REQUESTS} generated hostile requests get clear answers; no crash, no leak`, async () => {
  const r = new Rng(SEED);
  const pid = d.pid();
  // Warm up so lazily opened files (the store, sockets) are counted in the baseline.
  for (let i = 0; i < 50; i++) await d.rt('Version', {});
  const fd0 = fdCount(pid);
  const rss0 = rssBytes(pid);
  const codes = new Map<string, number>();
  const unclear: string[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const [method, svc, req] = (GENS[r.int(GENS.length)] as Gen)(r);
    let code: grpc.status = grpc.status.OK;
    try {
      const call = svc === 'rt' ? d.cri.rt.bind(d.cri) : d.cri.img.bind(d.cri);
      await (call as unknown as (m: string, q: unknown, o: unknown) => Promise<unknown>)(method, req, {
        deadlineMs: 20_000,
      });
    } catch (err) {
      code = (err as grpc.ServiceError).code;
      const details = (err as grpc.ServiceError).details ?? '';
      if (details.includes('fuzz-secret-pw')) unclear.push(`${method}: a credential leaked into an error`);
    }
    codes.set(`${method} ${grpc.status[code]}`, (codes.get(`${method} ${grpc.status[code]}`) ?? 0) + 1);
    if (!CLEAR.has(code)) unclear.push(`#${i} ${method} → ${grpc.status[code]}`);
  }
  await new Promise((res) => setTimeout(res, 500));
  const fd1 = fdCount(pid);
  const rss1 = rssBytes(pid);
  const version = await d.rt('Version', {});
  assert.equal(version.runtime_name, 'crimux', 'the daemon still answers');
  assert.equal(d.pid(), pid, 'the daemon did not restart');
  const results = {
    seed: SEED,
    requests: REQUESTS,
    unclear: unclear.length,
    crashes: 0,
    fdBefore: fd0,
    fdAfter: fd1,
    rssBeforeMiB: +(rss0 / 2 ** 20).toFixed(1),
    rssAfterMiB: +(rss1 / 2 ** 20).toFixed(1),
    secretsInLogs: d.logs().includes('fuzz-secret-pw') ? 1 : 0,
    codes: Object.fromEntries([...codes].sort()),
  };
  fs.mkdirSync(path.join(__dirname, '..', '..', 'bench', 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(__dirname, '..', '..', 'bench', 'results', 'fuzz.json'),
    JSON.stringify(results, null, 2) + '\n',
  );
  assert.deepEqual(unclear.slice(0, 20), [], 'every request got a clear status');
  assert.ok(fd1 - fd0 <= 10, `file descriptors stable (${fd0} → ${fd1})`);
  assert.ok(rss1 - rss0 < 150 * 2 ** 20, `memory stable (${results.rssBeforeMiB} → ${results.rssAfterMiB} MiB)`);
  assert.equal(results.secretsInLogs, 0, 'registry credentials never appear in logs');
});
