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
import { createRuncBackend } from '../../src/backends/runc';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { DeadlineExceededError, InvalidArgumentError, NotFoundError, UnimplementedError } from '../../src/errors';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { criLogLines, parseCriLog } from '../../src/host/cri-log';
import { OciImageStore } from '../../src/images/store';
import { Metrics } from '../../src/metrics/metrics';
import { BUSYBOX } from '../fixtures/images';
import { testRegistryMap } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import * as e from './env';

const SLOT = 0;
const log = e.testLogger();
const ctx = (ms?: number) => e.ctx(log, ms);
let dir = '';
let config: Config;
let images: OciImageStore;
let backend: Backend;
const hex = (c: string) => c.repeat(64).slice(0, 64);
const POD = hex('a1');
const C1 = hex('c1');
const C2 = hex('c2');
const C3 = hex('c3');
const BAD = hex('c4');
const C5 = hex('c5');
let logDir = '';
/** LinuxContainerResources with every field at its proto default (the shape the CRI server delivers). */
const RESOURCES = {
  cpu_period: '0', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0', oom_score_adj: '0', cpuset_cpus: '',
  cpuset_mems: '', hugepage_limits: [], unified: {}, memory_swap_limit_in_bytes: '0',
};

function makeBackend(): Backend {
  return createRuncBackend({
    config,
    handlers: [{ name: 'runc', backend: 'runc', options: {} }],
    log,
    stateDir: path.join(config.stateDir, 'backends', 'runc'),
    runDir: path.join(config.runDir, 'runc'),
    sharedImages: images,
    metrics: new Metrics({ processMetrics: false }),
  });
}

async function status(id: string) {
  return (await backend.containerStatus(ctx(), id, false)).status;
}

async function run(id: string, name: string, cmd: string[]): Promise<void> {
  await backend.createContainer(ctx(), {
    id,
    sandboxId: POD,
    config: e.containerConfig(name, BUSYBOX.ref, cmd),
    sandboxConfig: e.sandboxConfig('web', logDir),
  });
  await backend.startContainer(ctx(), id);
}

describe('runc backend (direct)', { timeout: 600_000 }, () => {
  before(async () => {
    await ensureTestRegistry();
    dir = await e.tempDir('crimux-runc-');
    logDir = path.join(dir, 'pods');
    config = loadConfig({
      env: {},
      overrides: {
        stateDir: path.join(dir, 'state'),
        runDir: path.join(dir, 'run'),
        handlers: { runc: { backend: 'runc', options: {} } },
        'backends.runc.enabled': true,
        'backends.runc.cgroupParent': `/crimux-test-${process.pid}`,
        'network.confDir': await e.writeCniConf(dir, SLOT),
        'network.netnsDir': path.join(dir, 'run', 'netns'),
        'images.registries': testRegistryMap(),
        'security.logRoot': '',
      },
    });
    images = new OciImageStore({
      root: path.join(config.stateDir, 'images'),
      registries: config.images.registries,
      pullTimeoutSeconds: 120,
      log,
      metrics: new Metrics({ processMetrics: false }),
      sandboxImage: config.images.sandboxImage,
    });
    await images.start();
    await images.pull(ctx(), { image: BUSYBOX.ref });
    backend = makeBackend();
    await backend.start(ctx());
  });

  after(async () => {
    await backend?.removePodSandbox(ctx(), POD).catch(() => undefined);
    await images?.close();
    await e.cleanupNetwork(path.join(dir, 'run', 'netns'), SLOT);
    await removeCgroupV1(`/crimux-test-${process.pid}`);
    for (const p of e.mountsMentioning(dir)) await e.run('umount', ['--lazy', p]).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('is healthy with runc, conmon and a CNI config', async () => {
    const h = await backend.health(ctx());
    assert.equal(h.ready, true, h.message);
    assert.equal(h.networkReady, true, h.message);
  });

  it('runs a pod sandbox: pause under conmon, own netns, pod IP from the subnet', async () => {
    await backend.runPodSandbox(ctx(), { id: POD, handler: { name: 'runc', backend: 'runc', options: {} }, config: e.sandboxConfig('web', logDir) });
    const { status: st } = await backend.podSandboxStatus(ctx(), POD, false);
    assert.equal(st.state, 'SANDBOX_READY');
    assert.match(st.network?.ip ?? '', /^10\.89\.50\.\d+$/);
    assert.ok(existsSync(path.join(config.network.netnsDir, POD)), 'netns file');
    assert.ok(e.processesMentioning(POD).length > 0, 'conmon of the pause container');
    const list = await backend.listPodSandboxes(ctx());
    assert.deepEqual(list.map((s) => s.id), [POD]);
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

  it('execs with streams (stdin in, stdout and exit code out) and forwards a pod-loopback port', async () => {
    const streams = await backend.exec(ctx(), C1, ['sh', '-c', 'cat; exit 6'], { tty: false, stdin: true, stdout: true, stderr: true });
    let out = '';
    streams.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    streams.stderr?.resume();
    streams.stdin?.end('piped through\n');
    assert.deepEqual(await streams.wait(), { exitCode: 6 });
    assert.equal(out, 'piped through\n');
    await assert.rejects(backend.exec(ctx(), C1, ['sh'], { tty: true, stdin: true, stdout: true, stderr: false }), UnimplementedError);

    // httpd bound to the pod's loopback only: reachable through PortForward, not from the host.
    await run(C5, 'web', ['sh', '-c', 'mkdir -p /www && echo hello-pf > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www']);
    const body = await e.waitFor('port forward', async () => {
      try {
        const conn = await backend.portForward(ctx(), POD, 8080);
        let text = '';
        conn.on('data', (b: Buffer) => (text += b.toString()));
        conn.end('GET / HTTP/1.0\r\n\r\n');
        await new Promise((r) => conn.on('close', r));
        return text.includes('hello-pf') ? text : undefined;
      } catch {
        return undefined; // httpd not listening yet
      }
    }, 20_000);
    assert.match(body, /200 OK/);
    await backend.stopContainer(ctx(), C5, 0);
    await backend.removeContainer(ctx(), C5);
  });

  it('kills an ExecSync that outlives its timeout and reports DeadlineExceeded', async () => {
    await assert.rejects(backend.execSync(ctx(), C1, ['sleep', '77'], 1), DeadlineExceededError);
    await e.waitFor('exec process gone', async () => {
      const r = await backend.execSync(ctx(), C1, ['sh', '-c', 'ps -o args | grep -c "^sleep 77" || true'], 10);
      return r.stdout.toString().trim() === '0' ? true : undefined;
    }, 10_000);
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
    const s = await backend.containerStats(ctx(), C1);
    assert.ok(BigInt(String(s.cpu?.usage_core_nano_seconds?.value ?? '0')) > 0n);
    assert.ok(BigInt(String(s.memory?.working_set_bytes?.value ?? '0')) > 0n);
    assert.ok(s.writable_layer?.used_bytes);
    await backend.updateContainerResources(ctx(), C1, { linux: { ...RESOURCES, memory_limit_in_bytes: String(64 * 1024 * 1024) }, windows: null });
    const limit = readFileSync(`/sys/fs/cgroup/memory/crimux-test-${process.pid}/${POD}/${C1}/memory.limit_in_bytes`, 'utf8');
    assert.equal(limit.trim(), String(64 * 1024 * 1024));
    const pod = await backend.podSandboxStats(ctx(), POD);
    assert.ok(pod.linux?.network?.interfaces?.some((i) => i.name === 'eth0'));
    assert.ok(BigInt(String(pod.linux?.memory?.working_set_bytes?.value ?? '0')) > 0n);
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
      backend.createContainer(ctx(), {
        id: BAD,
        sandboxId: POD,
        config: e.containerConfig('bad', BUSYBOX.ref, ['true'], { linux: { resources: null, security_context: sc } }),
        sandboxConfig: e.sandboxConfig('web', logDir),
      }),
      (err: Error) => err instanceof InvalidArgumentError && /seccomp\.localhost_ref/.test(err.message),
    );
    // A runtime failure (no such binary) surfaces at start, as in containerd: the container is exited with reason
    // StartError and nothing of it runs.
    await backend.createContainer(ctx(), {
      id: BAD,
      sandboxId: POD,
      config: e.containerConfig('bad', BUSYBOX.ref, ['/no/such/binary']),
      sandboxConfig: e.sandboxConfig('web', logDir),
    });
    assert.equal((await status(BAD)).state, 'CONTAINER_CREATED');
    await assert.rejects(backend.startContainer(ctx(), BAD), /no such file or directory|not found/i);
    const st = await status(BAD);
    assert.equal(st.state, 'CONTAINER_EXITED');
    assert.equal(st.reason, 'StartError');
    assert.deepEqual(e.processesMentioning(BAD), []);
    await backend.removeContainer(ctx(), BAD);
    assert.equal(existsSync(path.join(config.stateDir, 'backends', 'runc', 'containers', BAD)), false);
    await e.waitFor('snapshot of BAD removed', async () => ((await images.keys()).includes(BAD) ? undefined : true), 20_000);
    await assert.rejects(backend.containerStatus(ctx(), BAD, false), NotFoundError);
  });

  it('undoes every step of a RunPodSandbox whose pause container cannot be created', async () => {
    const broken = createRuncBackend({
      config,
      handlers: [{ name: 'broken', backend: 'runc', options: { runtimePath: '/bin/false', runtimeRoot: path.join(dir, 'broken-root') } }],
      log,
      stateDir: path.join(config.stateDir, 'backends', 'runc'),
      runDir: path.join(config.runDir, 'runc'),
      sharedImages: images,
      metrics: new Metrics({ processMetrics: false }),
    });
    const FAIL = hex('f0');
    await assert.rejects(
      broken.runPodSandbox(ctx(), { id: FAIL, handler: { name: 'broken', backend: 'runc', options: {} }, config: e.sandboxConfig('broken', logDir) }),
    );
    assert.equal(existsSync(path.join(config.network.netnsDir, FAIL)), false, 'netns');
    assert.equal(existsSync(path.join(config.stateDir, 'backends', 'runc', 'sandboxes', FAIL)), false, 'sandbox dir');
    assert.equal((await images.keys()).includes(FAIL), false, 'snapshot');
    assert.deepEqual(e.mountsMentioning(FAIL), [], 'mounts');
    assert.deepEqual(e.processesMentioning(FAIL), [], 'processes');
    assert.deepEqual(e.cgroupsMentioning(`/crimux-test-${process.pid}`, FAIL), [], 'cgroups');
    // The IP went back to the pool: the CNI result cache and host-local's reservation are gone.
    const reserved = await fs.readdir(path.join(dir, 'ipam', e.netSlot(SLOT).network)).catch(() => [] as string[]);
    for (const f of reserved) assert.doesNotMatch(await fs.readFile(path.join(dir, 'ipam', e.netSlot(SLOT).network, f), 'utf8').catch(() => ''), new RegExp(FAIL));
  });

  it('finds everything again after a restart, including an exit that happened meanwhile', async () => {
    await run(C3, 'short', ['sh', '-c', 'sleep 2; exit 5']);
    backend = makeBackend(); // a new instance over the same dirs: what a crimux restart sees
    await backend.start(ctx());
    const c1 = await status(C1);
    assert.equal(c1.state, 'CONTAINER_RUNNING', `C1 after restart: ${JSON.stringify(c1)}`);
    const st = await e.waitFor('C3 exited', async () => {
      const s = await status(C3);
      return s.state === 'CONTAINER_EXITED' ? s : undefined;
    }, 20_000);
    assert.equal(st.exit_code, 5, JSON.stringify(st));
    const ids = (await backend.listContainers(ctx())).map((c) => `${c.id}:${c.state}`).sort();
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
    assert.equal((await backend.podSandboxStatus(ctx(), POD, false)).status.state, 'SANDBOX_NOTREADY');
    assert.equal(existsSync(path.join(config.network.netnsDir, POD)), false);
    await backend.stopPodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), POD);
    await assert.rejects(backend.podSandboxStatus(ctx(), POD, false), NotFoundError);

    // Removal answers first and finishes in the background (as containerd's GC): give it a bounded moment.
    await e.waitFor('background removal', async () => ((await fs.readdir(path.join(config.stateDir, 'backends', 'runc', 'trash'))).length === 0 ? true : undefined), 20_000);
    for (const id of [POD, C1, C2, C3, C5]) {
      assert.deepEqual(e.processesMentioning(id), [], `processes of ${id}`);
      assert.deepEqual(e.mountsMentioning(id), [], `mounts of ${id}`);
    }
    // The configured parent itself stays (like /kubepods); nothing may be left below it.
    for (const id of [POD, C1, C2, C3]) assert.deepEqual(e.cgroupsMentioning(`/crimux-test-${process.pid}`, id), [], `cgroups of ${id}`);
    const left = await fs.readdir(path.join(config.stateDir, 'backends', 'runc', 'containers'));
    assert.deepEqual(left, []);
    assert.deepEqual(await fs.readdir(path.join(config.stateDir, 'backends', 'runc', 'sandboxes')), []);
    assert.deepEqual(await images.keys(), []);
    assert.deepEqual(await backend.listContainers(ctx()), []);
  });
});
