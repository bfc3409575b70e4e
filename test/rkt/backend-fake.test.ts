/**
 * The CRI translation over a real rkt — the fake one (test/rkt/fixtures/fake-rkt), as nothing else exists here:
 * createRktBackend with backends.rkt.rkt.path set. Checks what differs from the built-in stage1: rkt's own image
 * store behind ImageService, rkt networking (IPs from `rkt status`), the rkt-style app IDs, the security fields a
 * real rkt cannot enforce, and UNIMPLEMENTED for what rktlet never had (stats, attach).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend } from '../../src/backends/backend';
import { createRktBackend } from '../../src/backends/rkt';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { InvalidArgumentError, NotFoundError, UnimplementedError } from '../../src/errors';
import type { ImageStore, SnapshotStore } from '../../src/images/types';
import { Metrics } from '../../src/metrics/metrics';
import * as e from './env';
import { testLogger } from './helpers/stage1';
import { createBackendHost } from '../../src/backends/default-host';
import { containerStatus } from '../../src/router/shape-container';
import { sandboxStatus } from '../../src/router/shape-sandbox';
import { withLogPath } from '../helpers/create-request';

const FAKE = path.resolve(__dirname, 'fixtures', 'fake-rkt');
const IMAGE = 'docker.io/library/busybox:1.36';
const log = testLogger();
const ctx = () => e.ctx(log);
const POD = 'd1'.repeat(32);
const C1 = 'e1'.repeat(32);
const podNs = e.securityContext({
  namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD', target_id: '', userns_options: null },
});

describe('rkt backend over a real rkt (the fake)', { timeout: 120_000 }, () => {
  let dir = '';
  let config: Config;
  let backend: Backend;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-rkt-fakebackend-'));
    config = loadConfig({
      env: {},
      overrides: {
        stateDir: path.join(dir, 'state'),
        runDir: path.join(dir, 'run'),
        'backends.rkt.enabled': true,
        'backends.rkt.rkt.path': FAKE,
        handlers: { rkt: { backend: 'rkt', options: {} } },
        defaultHandler: 'rkt',
      },
    });
    backend = createRktBackend({
      config,
      handlers: [{ name: 'rkt', backend: 'rkt', options: {} }],
      log,
      stateDir: path.join(config.stateDir, 'backends', 'rkt'),
      runDir: path.join(config.runDir, 'rkt'),
      // Real-rkt mode must never touch the shared store.
      sharedImages: new Proxy(
        {},
        { get: () => () => Promise.reject(new Error('shared store used')) },
      ) as unknown as ImageStore & SnapshotStore,
      metrics: new Metrics({ processMetrics: false }),
      host: createBackendHost(),
    });
    await backend.start(ctx());
  });

  after(async () => {
    await backend.removePodSandbox(ctx(), POD).catch(() => undefined);
    const state = JSON.parse(
      await fs
        .readFile(path.join(dir, 'state', 'backends', 'rkt', 'rkt-data', 'fake-rkt-state.json'), 'utf8')
        .catch(() => '{"pods":{}}'),
    ) as { pods: Record<string, { pid: number }> };
    for (const p of Object.values(state.pods)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("reports rkt as healthy and pulls into rkt's own store", async () => {
    assert.equal((await backend.health(ctx())).ready, true);
    const id = await backend.images.pull(ctx(), { image: IMAGE });
    assert.match(id, /^sha512-[0-9a-f]{32}$/);
    assert.equal((await backend.images.status(ctx(), IMAGE, false)).image?.id, id);
  });

  it('runs a pod and an app; IPs and states come from rkt', async () => {
    await backend.runPodSandbox(ctx(), {
      id: POD,
      handler: { name: 'rkt', backend: 'rkt', options: {} },
      config: e.sandboxConfig('web', dir),
    });
    const st = await backend.podSandboxStatus(ctx(), POD, true);
    assert.equal(sandboxStatus(st.facts).state, 'SANDBOX_READY');
    assert.match(sandboxStatus(st.facts).network?.ip ?? '', /^172\.16\.28\.\d+$/);
    assert.equal(JSON.parse(st.info.info ?? '{}').podManager, 'rkt');
    await backend.createContainer(
      ctx(),
      withLogPath({
        id: C1,
        sandboxId: POD,
        config: e.containerConfig('app', IMAGE, ['sleep', '1000'], {
          linux: { resources: null, security_context: podNs },
        }),
        sandboxConfig: e.sandboxConfig('web', dir),
      }),
    );
    await backend.startContainer(ctx(), C1);
    const cs = await backend.containerStatus(ctx(), C1, true);
    assert.equal(containerStatus(cs.facts).state, 'CONTAINER_RUNNING');
    assert.match(JSON.parse(cs.info.info ?? '{}').rktAppId, /^[0-9a-f-]{36}:0-app$/);
    assert.deepEqual(
      (await backend.listContainers(ctx())).map((c) => c.id),
      [C1],
    );
    const r = await backend.execSync(ctx(), C1, ['sh', '-c', 'echo via-rkt; exit 3'], 10);
    assert.equal(r.stdout.toString(), 'via-rkt\n');
    assert.equal(r.exitCode, 3);
  });

  it('refuses what a real rkt cannot enforce and what rktlet never had', async () => {
    await assert.rejects(
      backend.createContainer(
        ctx(),
        withLogPath({
          id: 'e2'.repeat(32),
          sandboxId: POD,
          config: e.containerConfig('nnp', IMAGE, ['true'], {
            linux: { resources: null, security_context: { ...podNs, no_new_privs: true } },
          }),
          sandboxConfig: e.sandboxConfig('web', dir),
        }),
      ),
      (err: unknown) => err instanceof InvalidArgumentError && err.message.includes('no_new_privs'),
    );
    await assert.rejects(backend.containerUsage(ctx(), C1), UnimplementedError);
    await assert.rejects(
      backend.attach(ctx(), C1, { tty: false, stdin: false, stdout: true, stderr: true }),
      UnimplementedError,
    );
  });

  it('stop and remove are idempotent, unknown IDs included', async () => {
    await backend.stopContainer(ctx(), C1, 5);
    assert.equal(containerStatus((await backend.containerStatus(ctx(), C1, false)).facts).state, 'CONTAINER_EXITED');
    await backend.removeContainer(ctx(), C1);
    await backend.removeContainer(ctx(), C1);
    await backend.stopPodSandbox(ctx(), POD);
    await backend.stopPodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), POD);
    await backend.removePodSandbox(ctx(), 'f0'.repeat(32));
    await assert.rejects(backend.podSandboxStatus(ctx(), POD, false), NotFoundError);
    assert.deepEqual(await backend.listPodSandboxes(ctx()), []);
  });
});
