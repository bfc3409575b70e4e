/**
 * The rkt backend driven directly (createRktBackend(deps)) as root on the real host: the shared OCI store fed by
 * the local test registry, the built-in nspawn stage1, conmon, a private CNI bridge. Checks the CRI semantics the
 * translation promises (shared pod network, exec as the container's user with a timeout, logs, exit codes, stop
 * with timeout, attach, port-forward, stats, security rejections), a simulated restart, and no leftovers.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend } from '../../src/backends/backend';
import { createRktBackend } from '../../src/backends/rkt';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { DeadlineExceededError, InvalidArgumentError, NotFoundError } from '../../src/errors';
import { OciImageStore } from '../../src/images/store';
import { Metrics } from '../../src/metrics/metrics';
import { BUSYBOX, BUSYBOX_USER, HTTP } from '../fixtures/images';
import { testRegistryMap } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import { waitFor } from './contract';
import * as e from './env';
import { cgroupLeftovers, removeParent, testLogger } from './helpers/stage1';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';
import { createBackendHost } from '../../src/backends/default-host';
import { containerEntry, containerStatus } from '../../src/router/shape-container';
import { sandboxStatus } from '../../src/router/shape-sandbox';
import { withLogPath } from '../helpers/create-request';
import { checkContainerCapabilities } from '../../src/router/containers';

const SLOT = 0;
const log = testLogger();
const ctx = (ms?: number) => e.ctx(log, ms);
const hex = (c: string) => c.repeat(64).slice(0, 64);
const POD = hex('a1');
const [WEB, TOOLS, USER, SHORT, STUBBORN, CAT] = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'].map(hex) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const CGROUP_PARENT = `crimux-rkt-test-backend-${process.pid}`;
let dir = '';
let logDir = '';
let config: Config;
let images: OciImageStore;
let backend: Backend;

function makeBackend(): Backend {
  return createRktBackend({
    config,
    handlers: [{ name: 'rkt', backend: 'rkt', options: {} }],
    log,
    stateDir: path.join(config.stateDir, 'backends', 'rkt'),
    runDir: path.join(config.runDir, 'rkt'),
    sharedImages: images,
    metrics: new Metrics({ processMetrics: false }),
    host: createBackendHost(),
  });
}

const sandboxConfig = () => e.sandboxConfig('web', logDir);
async function create(
  id: string,
  name: string,
  image: string,
  cmd: string[],
  extra: Parameters<typeof e.containerConfig>[3] = {},
) {
  await backend.createContainer(
    ctx(),
    withLogPath({
      id,
      sandboxId: POD,
      config: e.containerConfig(name, image, cmd, extra),
      sandboxConfig: sandboxConfig(),
    }),
  );
}
const status = async (id: string) => containerStatus((await backend.containerStatus(ctx(), id, false)).facts);
const exited = (id: string) =>
  waitFor(`${id} to exit`, async () => ((await status(id)).state === 'CONTAINER_EXITED' ? status(id) : undefined));

describe('rkt backend (direct, built-in stage1)', { timeout: 600_000 }, () => {
  before(async () => {
    await ensureTestRegistry();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-rkt-backend-'));
    logDir = path.join(dir, 'pods');
    config = loadConfig({
      env: {},
      overrides: {
        stateDir: path.join(dir, 'state'),
        runDir: path.join(dir, 'run'),
        'network.confDir': await e.writeCniConf(dir, SLOT),
        'network.netnsDir': path.join(dir, 'netns'),
        'images.registries': testRegistryMap(),
        'backends.rkt.enabled': true,
        'backends.rkt.stage1.cgroupParent': CGROUP_PARENT,
        handlers: { rkt: { backend: 'rkt', options: {} } },
        defaultHandler: 'rkt',
      },
    });
    images = new OciImageStore({
      root: path.join(config.stateDir, 'images'),
      registries: config.images.registries,
      pullTimeoutSeconds: 120,
      log,
      metrics: new Metrics({ processMetrics: false }),
    });
    await images.start();
    for (const img of [BUSYBOX, BUSYBOX_USER, HTTP]) await images.pull(ctx(), { image: img.ref });
    backend = makeBackend();
    await backend.start(ctx());
    assert.equal((await backend.health(ctx())).ready, true);
  });

  after(async () => {
    await backend?.removePodSandbox(ctx(), POD).catch(() => undefined);
    await removeParent(CGROUP_PARENT);
    await e.cleanupNetwork(path.join(dir, 'netns'), SLOT);
    await images?.close();
    // Never delete through a mount: whatever a failed test left mounted goes first.
    await unmountAll(dir).catch(() => undefined);
    if ((await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs the pod as an nspawn stage1 on the CNI network', async () => {
    await backend.runPodSandbox(ctx(), {
      id: POD,
      handler: { name: 'rkt', backend: 'rkt', options: {} },
      config: sandboxConfig(),
    });
    const st = await backend.podSandboxStatus(ctx(), POD, true);
    assert.equal(sandboxStatus(st.facts).state, 'SANDBOX_READY');
    assert.match(sandboxStatus(st.facts).network?.ip ?? '', /^10\.89\.80\.\d+$/);
    assert.equal(sandboxStatus(st.facts).metadata?.name, 'web');
    assert.equal(JSON.parse(st.info.info ?? '{}').podManager, 'stage1-min');
    assert.ok(e.processesMentioning('systemd-nspawn').length > 0);
    assert.deepEqual(
      (await backend.listPodSandboxes(ctx())).map((p) => p.id),
      [POD],
    );
  });

  it('two containers added later share the pod network', async () => {
    await create(WEB, 'web', HTTP.ref, [], { envs: [{ key: 'PORT', value: '8080' }] });
    await create(TOOLS, 'tools', BUSYBOX.ref, ['sleep', '1000']);
    await backend.startContainer(ctx(), WEB);
    await backend.startContainer(ctx(), TOOLS);
    const body = await waitFor('http from the sibling', async () => {
      const r = await backend.execSync(ctx(), TOOLS, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 10);
      return r.exitCode === 0 ? r.stdout.toString() : undefined;
    });
    assert.equal(body, HTTP.body('web'));
    const list = (await backend.listContainers(ctx())).map(containerEntry);
    assert.deepEqual(list.map((c) => c.id).sort(), [TOOLS, WEB].sort());
    assert.ok(list.every((c) => c.state === 'CONTAINER_RUNNING' && c.pod_sandbox_id === POD));
  });

  it('exec runs as the container user in its working dir; a timeout kills it', async () => {
    await create(USER, 'user', BUSYBOX_USER.ref, ['sleep', '1000']);
    await backend.startContainer(ctx(), USER);
    const id = await backend.execSync(ctx(), USER, ['id'], 0);
    assert.equal(id.stdout.toString().trim(), BUSYBOX_USER.idOutput);
    assert.equal((await backend.execSync(ctx(), USER, ['pwd'], 0)).stdout.toString(), '/home/www\n');
    assert.equal((await backend.execSync(ctx(), USER, ['sh', '-c', 'exit 5'], 0)).exitCode, 5);
    const t0 = Date.now();
    await assert.rejects(backend.execSync(ctx(), USER, ['sleep', '30'], 1), DeadlineExceededError);
    assert.ok(Date.now() - t0 < 10_000);
    await waitFor(
      'exec sleep killed',
      async () => (e.processesMentioning('sleep 30').length === 0 ? true : undefined),
      5000,
    );
  });

  it('logs in CRI format and exit codes with reasons', async () => {
    await create(SHORT, 'short', BUSYBOX.ref, ['sh', '-c', 'echo out; echo err >&2; printf part; exit 3']);
    await backend.startContainer(ctx(), SHORT);
    const st = await exited(SHORT);
    assert.equal(st.exit_code, 3);
    assert.equal(st.reason, 'Error');
    assert.equal(st.log_path, path.join(sandboxConfig().log_directory, 'short/0.log'));
    const text = await fs.readFile(st.log_path ?? '', 'utf8');
    assert.match(text, /^\S+Z? stdout F out$/m);
    assert.match(text, /^\S+ stdout P part$/m);
    assert.equal(e.logContent(text, 'stderr'), 'err\n');
  });

  it('StopContainer honours its timeout, then kills; the other app keeps running', async () => {
    // sh is PID 1 of its own PID namespace (pid=CONTAINER): SIGTERM is ignored, so only the timeout ends it.
    await create(STUBBORN, 'stubborn', BUSYBOX.ref, ['sh', '-c', 'sleep 1000']);
    await backend.startContainer(ctx(), STUBBORN);
    const t0 = Date.now();
    await backend.stopContainer(ctx(), STUBBORN, 2);
    const took = Date.now() - t0;
    assert.ok(took >= 1900, `stopped after ${took} ms`);
    const st = await status(STUBBORN);
    assert.equal(st.state, 'CONTAINER_EXITED');
    assert.equal(st.exit_code, 137);
    assert.equal((await status(TOOLS)).state, 'CONTAINER_RUNNING');
    await backend.stopContainer(ctx(), STUBBORN, 2);
    await backend.stopContainer(ctx(), hex('ff'), 2);
  });

  it('attach: stdin reaches the app, its output comes back', async () => {
    await create(CAT, 'cat', BUSYBOX.ref, ['cat'], { stdin: true, stdin_once: true });
    await backend.startContainer(ctx(), CAT);
    const s = await backend.attach(ctx(), CAT, { tty: false, stdin: true, stdout: true, stderr: true });
    let got = '';
    s.stdout?.on('data', (b: Buffer) => (got += b.toString()));
    s.stdin?.write('hello rkt\n');
    await waitFor('echo through cat', async () => (got.includes('hello rkt\n') ? true : undefined));
    s.stdin?.end();
    const { exitCode } = await s.wait();
    assert.equal(exitCode, 0);
    assert.equal((await exited(CAT)).exit_code, 0);
  });

  it('port-forward reaches a port inside the pod', async () => {
    const d = await backend.portForward(ctx(), POD, HTTP.port);
    let got = '';
    d.on('data', (b: Buffer) => (got += b.toString()));
    d.write('GET / HTTP/1.0\r\n\r\n');
    await waitFor('http over port-forward', async () => (got.includes(HTTP.bodyPrefix) ? true : undefined));
    d.destroy();
  });

  it('stats come from the app cgroups', async () => {
    const st = await backend.containerUsage(ctx(), TOOLS);
    assert.equal(st.id, TOOLS);
    assert.ok(Number(st.memory?.workingSetBytes ?? 0) > 0);
    assert.ok(Number(st.cpuNs ?? 0) > 0);
    const pod = await backend.podSandboxUsage(ctx(), POD);
    assert.ok(pod.containers.length >= 2);
  });

  it('refuses what the stage1 cannot enforce, naming the field', async () => {
    // Seccomp and capabilities are enforced by crimux-stage1 now (#20); privilege is what nspawn cannot give.
    // The router's one check against this backend's own capabilities refuses it before any backend call
    // (src/router/containers.ts); end to end through the daemon: conformance security/privileged-true.
    const sc = e.securityContext({ privileged: true });
    const config = e.containerConfig('secure', BUSYBOX.ref, ['true'], {
      linux: { resources: null, security_context: sc },
    });
    assert.throws(
      () => checkContainerCapabilities(config, backend.capabilities),
      (err: unknown) =>
        err instanceof InvalidArgumentError && err.message.includes('linux.security_context.privileged'),
    );
    await assert.rejects(backend.containerStatus(ctx(), hex('c9'), false), NotFoundError);
  });

  it('a restarted backend finds everything on disk, including exits that happened meanwhile', async () => {
    await backend.close();
    await backend.execSync(ctx(), TOOLS, ['true'], 0);
    // What a crash mid-create leaves: a pod half-built under pods/prepare and an index record still "creating".
    const stateDir = path.join(config.stateDir, 'backends', 'rkt');
    const half = path.join(stateDir, 'pods', 'prepare', '11111111-2222-4333-8444-555555555555');
    await fs.mkdir(path.join(half, 'stage1', 'rootfs'), { recursive: true });
    const ghost = hex('9a');
    await fs.writeFile(
      path.join(stateDir, 'index', 'sandboxes', `${ghost}.json`),
      JSON.stringify({ version: 1, id: ghost, state: 'creating', handler: 'rkt' }),
    );
    backend = makeBackend();
    await backend.start(ctx());
    assert.equal(existsSync(half), false);
    assert.equal(existsSync(path.join(stateDir, 'index', 'sandboxes', `${ghost}.json`)), false);
    const ids = (await backend.listContainers(ctx())).map((c) => c.id).sort();
    assert.deepEqual(ids, [WEB, TOOLS, USER, SHORT, STUBBORN, CAT].sort());
    assert.equal((await status(SHORT)).exit_code, 3);
    assert.equal((await status(TOOLS)).state, 'CONTAINER_RUNNING');
    assert.equal((await backend.execSync(ctx(), TOOLS, ['echo', 'still'], 5)).stdout.toString(), 'still\n');
  });

  it('remove one container, stop and remove the pod: idempotent, nothing left behind', async () => {
    await backend.removeContainer(ctx(), SHORT);
    await backend.removeContainer(ctx(), SHORT);
    await assert.rejects(backend.containerStatus(ctx(), SHORT, false), NotFoundError);
    await backend.stopPodSandbox(ctx(), POD);
    assert.equal(sandboxStatus((await backend.podSandboxStatus(ctx(), POD, false)).facts).state, 'SANDBOX_NOTREADY');
    assert.equal((await status(TOOLS)).state, 'CONTAINER_EXITED');
    await backend.stopPodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), POD);
    await assert.rejects(backend.podSandboxStatus(ctx(), POD, false), NotFoundError);
    assert.deepEqual(await backend.listContainers(ctx()), []);
    const stateDir = path.join(config.stateDir, 'backends', 'rkt');
    assert.deepEqual(e.mountsMentioning(stateDir), []);
    assert.deepEqual(e.mountsMentioning(path.join(config.stateDir, 'images', 'snapshots')), []);
    assert.deepEqual(await cgroupLeftovers(CGROUP_PARENT), []);
    assert.equal(existsSync(path.join(dir, 'netns', POD)), false);
    assert.deepEqual(await fs.readdir(path.join(stateDir, 'pods', 'run')), []);
    assert.deepEqual(await images.keys(), []);
    assert.deepEqual(e.processesMentioning(stateDir), []);
  });
});
