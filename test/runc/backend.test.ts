/**
 * The runc backend driven directly (createRuncBackend(deps)) as root against the real host: the real OCI image
 * store fed by the local test registry, real runc + conmon, a private CNI bridge. Checks the lifecycle, CRI
 * semantics (idempotent stop/remove, NotFound, reasons), logs, exec, stats, resources, a simulated restart, and
 * that nothing is left behind. Cleans up in after() even on failure.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend } from '../../src/backends/backend';
import { DeadlineExceededError, InvalidArgumentError, NotFoundError } from '../../src/errors';
import { criLogLines, parseCriLog } from '../../src/host/cri-log';
import { BUSYBOX } from '../fixtures/images';
import { directEnv, RUNC, type DirectEnv } from './direct';
import * as e from './env';
import { containerEntry, containerStatus } from '../../src/router/shape-container';
import { sandboxEntry, sandboxStatus } from '../../src/router/shape-sandbox';
import { withLogPath } from '../helpers/create-request';

const SLOT = 0;
const log = e.testLogger();
const ctx = (ms?: number) => e.ctx(log, ms);
let env: DirectEnv;
let backend: Backend;
const hex = (c: string) => c.repeat(64).slice(0, 64);
const POD = hex('a1');
const C1 = hex('c1');
const C2 = hex('c2');
const C3 = hex('c3');
const BAD = hex('c4');
/** LinuxContainerResources with every field at its proto default (the shape the CRI server delivers). */
const RESOURCES = {
  cpu_period: '0',
  cpu_quota: '0',
  cpu_shares: '0',
  memory_limit_in_bytes: '0',
  oom_score_adj: '0',
  cpuset_cpus: '',
  cpuset_mems: '',
  hugepage_limits: [],
  unified: {},
  memory_swap_limit_in_bytes: '0',
};

async function status(id: string) {
  return containerStatus((await backend.containerStatus(ctx(), id, false)).facts);
}

async function run(id: string, name: string, cmd: string[]): Promise<void> {
  await backend.createContainer(
    ctx(),
    withLogPath({
      id,
      sandboxId: POD,
      config: e.containerConfig(name, BUSYBOX.ref, cmd),
      sandboxConfig: e.sandboxConfig('web', env.logDir),
    }),
  );
  await backend.startContainer(ctx(), id);
}

describe('runc backend (direct)', { timeout: 600_000 }, () => {
  before(async () => {
    env = await directEnv(SLOT, log);
    backend = env.backend();
    await backend.start(ctx());
  });

  after(async () => {
    await backend?.removePodSandbox(ctx(), POD).catch(() => undefined);
    await backend?.close();
    await env?.cleanup();
  });

  it('is healthy with runc, conmon and a CNI config', async () => {
    const h = await backend.health(ctx());
    assert.equal(h.ready, true, h.message);
    assert.equal(h.networkReady, true, h.message);
  });

  it('runs a pod sandbox: pause under conmon, own netns, pod IP from the subnet', async () => {
    await backend.runPodSandbox(ctx(), { id: POD, handler: RUNC, config: e.sandboxConfig('web', env.logDir) });
    const st = sandboxStatus((await backend.podSandboxStatus(ctx(), POD, false)).facts);
    assert.equal(st.state, 'SANDBOX_READY');
    assert.match(st.network?.ip ?? '', /^10\.89\.50\.\d+$/);
    assert.ok(existsSync(path.join(env.config.network.netnsDir, POD)), 'netns file');
    assert.ok(e.processesMentioning(POD).length > 0, 'conmon of the pause container');
    const list = (await backend.listPodSandboxes(ctx())).map(sandboxEntry);
    assert.deepEqual(
      list.map((s) => s.id),
      [POD],
    );
    assert.equal(list[0]?.runtime_handler, 'runc');
  });

  it('creates and starts a busybox container, writes its CRI log, runs ExecSync', async () => {
    // PID 1 ignores signals it has no handler for: the trap makes SIGTERM stop it, as a well-behaved app would.
    await run(C1, 'app', ['sh', '-c', "trap 'exit 0' TERM; echo hello; echo oops >&2; while :; do sleep 1; done"]);
    assert.equal((await status(C1)).state, 'CONTAINER_RUNNING');
    const logPath = (await status(C1)).log_path!;
    const lines = await e.waitFor('log lines', async () => {
      const entries = parseCriLog(await fs.readFile(logPath, 'utf8').catch(() => ''));
      return entries.length >= 2 ? entries : undefined;
    });
    assert.deepEqual(criLogLines(lines, 'stdout'), ['hello']);
    assert.deepEqual(criLogLines(lines, 'stderr'), ['oops']);

    const r = await backend.execSync(ctx(), C1, ['sh', '-c', 'echo out; echo err >&2; hostname; exit 3'], 10);
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout.toString(), 'out\nweb\n');
    assert.equal(r.stderr.toString(), 'err\n');
    const env = await backend.execSync(ctx(), C1, ['env'], 10);
    assert.match(env.stdout.toString(), /CRIMUX_TEST=app/);
  });

  it('kills an ExecSync that outlives its timeout and reports DeadlineExceeded', async () => {
    await assert.rejects(backend.execSync(ctx(), C1, ['sleep', '77'], 1), DeadlineExceededError);
    await e.waitFor(
      'exec process gone',
      async () => {
        const r = await backend.execSync(ctx(), C1, ['sh', '-c', 'ps -o args | grep -c "^sleep 77" || true'], 10);
        return r.stdout.toString().trim() === '0' ? true : undefined;
      },
      10_000,
    );
  });

  it('reports an exit with its code, reason and times', async () => {
    await run(C2, 'fail', ['sh', '-c', 'exit 7']);
    const st = await e.waitFor('C2 exited', async () => {
      const s = await status(C2);
      return s.state === 'CONTAINER_EXITED' ? s : undefined;
    });
    assert.equal(st.exit_code, 7);
    assert.equal(st.reason, 'Error');
    assert.ok(BigInt(String(st.finished_at)) >= BigInt(String(st.started_at)));
    assert.ok(BigInt(String(st.started_at)) >= BigInt(String(st.created_at)));
    assert.match(st.image_ref ?? '', /(^sha256:|@sha256:)[0-9a-f]{64}$/);
  });

  it('reports stats from cgroups and applies new resources with runc update', async () => {
    const s = await backend.containerUsage(ctx(), C1);
    assert.ok(BigInt(s.cpuNs ?? 0) > 0n);
    assert.ok(BigInt(s.memory?.workingSetBytes ?? 0) > 0n);
    assert.ok(s.writableLayer?.usedBytes !== undefined);
    await backend.updateContainerResources(ctx(), C1, {
      linux: { ...RESOURCES, memory_limit_in_bytes: String(64 * 1024 * 1024) },
      windows: null,
    });
    const limit = readFileSync(`/sys/fs/cgroup/memory${env.cgroupRoot}/${POD}/${C1}/memory.limit_in_bytes`, 'utf8');
    assert.equal(limit.trim(), String(64 * 1024 * 1024));
    const pod = await backend.podSandboxUsage(ctx(), POD);
    assert.ok(pod.interfaces?.some((i) => i.name === 'eth0'));
    assert.ok(BigInt(pod.memory?.workingSetBytes ?? 0) > 0n);
  });

  it('reopens the log after rotation', async () => {
    const logPath = (await status(C1)).log_path!;
    await fs.rename(logPath, `${logPath}.1`);
    await backend.reopenContainerLog(ctx(), C1);
    await backend.execSync(ctx(), C1, ['sh', '-c', 'echo rotated > /proc/1/fd/1'], 10);
    const text = await e.waitFor('new log', async () => {
      const t = await fs.readFile(logPath, 'utf8').catch(() => '');
      return t.includes('rotated') ? t : undefined;
    });
    assert.match(text, /stdout F rotated/);
  });

  it('refuses bad input naming the field and leaves nothing half-made', async () => {
    const sc = e.securityContext({ seccomp: { profile_type: 'Localhost', localhost_ref: 'relative.json' } });
    await assert.rejects(
      backend.createContainer(
        ctx(),
        withLogPath({
          id: BAD,
          sandboxId: POD,
          config: e.containerConfig('bad', BUSYBOX.ref, ['true'], { linux: { resources: null, security_context: sc } }),
          sandboxConfig: e.sandboxConfig('web', env.logDir),
        }),
      ),
      (err: Error) => err instanceof InvalidArgumentError && /seccomp\.localhost_ref/.test(err.message),
    );
    // A runtime failure (no such binary) surfaces at start, as in containerd: the container is exited with reason
    // StartError and nothing of it runs.
    await backend.createContainer(
      ctx(),
      withLogPath({
        id: BAD,
        sandboxId: POD,
        config: e.containerConfig('bad', BUSYBOX.ref, ['/no/such/binary']),
        sandboxConfig: e.sandboxConfig('web', env.logDir),
      }),
    );
    assert.equal((await status(BAD)).state, 'CONTAINER_CREATED');
    await assert.rejects(backend.startContainer(ctx(), BAD), /no such file or directory|not found/i);
    const st = await status(BAD);
    assert.equal(st.state, 'CONTAINER_EXITED');
    assert.equal(st.reason, 'StartError');
    assert.deepEqual(e.processesMentioning(BAD), []);
    await backend.removeContainer(ctx(), BAD);
    assert.equal(existsSync(path.join(env.stateDir, 'containers', BAD)), false);
    await e.waitFor(
      'snapshot of BAD removed',
      async () => ((await env.images.keys()).includes(BAD) ? undefined : true),
      20_000,
    );
    await assert.rejects(backend.containerStatus(ctx(), BAD, false), NotFoundError);
  });

  it('finds everything again after a restart, including an exit that happened meanwhile', async () => {
    await run(C3, 'short', ['sh', '-c', 'sleep 2; exit 5']);
    backend = env.backend(); // a new instance over the same dirs: what a crimux restart sees
    await backend.start(ctx());
    const c1 = await status(C1);
    assert.equal(c1.state, 'CONTAINER_RUNNING', `C1 after restart: ${JSON.stringify(c1)}`);
    const st = await e.waitFor(
      'C3 exited',
      async () => {
        const s = await status(C3);
        return s.state === 'CONTAINER_EXITED' ? s : undefined;
      },
      20_000,
    );
    assert.equal(st.exit_code, 5, JSON.stringify(st));
    const ids = (await backend.listContainers(ctx()))
      .map(containerEntry)
      .map((c) => `${c.id}:${c.state}`)
      .sort();
    assert.deepEqual(ids, [`${C1}:CONTAINER_RUNNING`, `${C2}:CONTAINER_EXITED`, `${C3}:CONTAINER_EXITED`].sort());
  });

  it('stops (idempotently), removes, and leaves no process, mount, netns, cgroup or file', async () => {
    const t0 = Date.now();
    await backend.stopContainer(ctx(), C1, 10);
    assert.ok(Date.now() - t0 < 9000, 'sleep exits on SIGTERM well within the grace period');
    assert.equal((await status(C1)).state, 'CONTAINER_EXITED');
    await backend.stopContainer(ctx(), C1, 10);
    await backend.removeContainer(ctx(), C1);
    await backend.removeContainer(ctx(), C1);
    await assert.rejects(backend.containerStatus(ctx(), C1, false), NotFoundError);
    await backend.stopContainer(ctx(), hex('ff'), 0);

    await backend.stopPodSandbox(ctx(), POD);
    assert.equal(sandboxStatus((await backend.podSandboxStatus(ctx(), POD, false)).facts).state, 'SANDBOX_NOTREADY');
    assert.equal(existsSync(path.join(env.config.network.netnsDir, POD)), false);
    await backend.stopPodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), POD);
    await assert.rejects(backend.podSandboxStatus(ctx(), POD, false), NotFoundError);

    // Removal answers first and finishes in the background (as containerd's GC): give it a bounded moment.
    await e.waitFor(
      'background removal',
      async () => ((await fs.readdir(path.join(env.stateDir, 'trash'))).length === 0 ? true : undefined),
      20_000,
    );
    for (const id of [POD, C1, C2, C3]) {
      assert.deepEqual(e.processesMentioning(id), [], `processes of ${id}`);
      assert.deepEqual(e.mountsMentioning(id), [], `mounts of ${id}`);
    }
    // The configured parent itself stays (like /kubepods); nothing may be left below it.
    for (const id of [POD, C1, C2, C3])
      assert.deepEqual(e.cgroupsMentioning(env.cgroupRoot, id), [], `cgroups of ${id}`);
    const left = await fs.readdir(path.join(env.stateDir, 'containers'));
    assert.deepEqual(left, []);
    assert.deepEqual(await fs.readdir(path.join(env.stateDir, 'sandboxes')), []);
    assert.deepEqual(await env.images.keys(), []);
    assert.deepEqual(await backend.listContainers(ctx()), []);
  });
});
