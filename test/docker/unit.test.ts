/**
 * The docker backend over a fake DockerEngine (the one faked seam): CRI semantics (idempotent stop/remove,
 * NotFound status, repeatable create), naming and labels, registry replacement on pull, dockerd outage, and
 * rebuilding everything from Docker after a "crimux restart" (a new backend on the same engine).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildDockerBackend, type DockerBackend } from '../../src/backends/docker';
import { LABEL } from '../../src/backends/docker/naming';
import { FakeEngine } from './fake-engine';
import {
  containerConfig,
  ctx,
  deps,
  handlerSpec,
  makeEnv,
  newId,
  sandboxConfig,
  testLogger,
  type TestEnv,
} from './env';
import { containerStatus } from '../../src/router/shape-container';
import { sandboxStatus } from '../../src/router/shape-sandbox';
import { withLogPath } from '../helpers/create-request';

const log = testLogger();

describe('docker backend over a fake engine', () => {
  let env: TestEnv;
  let engine: FakeEngine;
  let backend: DockerBackend;

  before(async () => {
    env = await makeEnv(5000, 0);
    engine = new FakeEngine();
    engine.registry.add('127.0.0.1:5000/pause');
    engine.registry.add('127.0.0.1:5000/library/busybox');
    backend = buildDockerBackend(deps(env, log), engine);
    await backend.start(ctx(log));
  });
  after(async () => {
    await backend?.close();
    await env?.cleanup();
  });

  const runPod = async (name: string): Promise<{ id: string; config: ReturnType<typeof sandboxConfig> }> => {
    const id = newId();
    const config = sandboxConfig(env, name, { hostNetwork: true });
    await backend.runPodSandbox(ctx(log), { id, handler: handlerSpec(env.config), config });
    return { id, config };
  };

  it('pulls through the replacing endpoint and tags the requested name', async () => {
    const id = await backend.images.pull(ctx(log), { image: 'busybox:1.36' });
    assert.deepEqual(engine.pulls.at(-1), { repo: '127.0.0.1:5000/library/busybox', tag: '1.36', auth: undefined });
    const st = await backend.images.status(ctx(log), 'docker.io/library/busybox:1.36', false);
    assert.equal(st.image?.id, id);
    assert.deepEqual(st.image?.repo_tags, ['docker.io/library/busybox:1.36']);
    assert.deepEqual(st.image?.repo_digests, [`docker.io/library/busybox@sha256:${'d'.repeat(64)}`]);
  });

  it('never falls back to the real host when the endpoint misses', async () => {
    const before = engine.pulls.length;
    await assert.rejects(backend.images.pull(ctx(log), { image: 'docker.io/library/missing:1' }), {
      name: 'NotFoundError',
    });
    assert.deepEqual(
      engine.pulls.slice(before).map((p) => p.repo),
      ['127.0.0.1:5000/library/missing'],
    );
  });

  it('runs a sandbox as a named, labelled pause container (pulling the sandbox image)', async () => {
    const { id, config } = await runPod('web');
    const pause = [...engine.containers.values()].find((c) => c.body.Labels[LABEL.id] === id);
    assert.ok(pause);
    assert.equal(pause.name, `k8s_POD_web_default_${config.metadata?.uid}_0`);
    assert.equal(pause.body.HostConfig.Runtime, 'runc', 'handler option dockerRuntime');
    assert.equal(pause.status, 'running');
    const st = await backend.podSandboxStatus(ctx(log), id, false);
    assert.equal(sandboxStatus(st.facts).state, 'SANDBOX_READY');
    assert.equal(sandboxStatus(st.facts).runtime_handler, 'docker');
    assert.deepEqual(sandboxStatus(st.facts).labels, config.labels);
    assert.ok(
      (await backend.images.list(ctx(log))).some((i) => i.repo_tags?.includes('registry.k8s.io/pause:3.9') && i.pinned),
    );
  });

  it('treats unknown IDs as CRI says', async () => {
    await backend.stopPodSandbox(ctx(log), 'nope');
    await backend.removePodSandbox(ctx(log), 'nope');
    await backend.stopContainer(ctx(log), 'nope', 1);
    await backend.removeContainer(ctx(log), 'nope');
    await assert.rejects(backend.podSandboxStatus(ctx(log), 'nope', false), { name: 'NotFoundError' });
    await assert.rejects(backend.containerStatus(ctx(log), 'nope', false), { name: 'NotFoundError' });
    await backend.images.remove(ctx(log), 'docker.io/library/never:1');
  });

  it('makes RunPodSandbox safe to repeat for the same ID', async () => {
    const id = newId();
    const config = sandboxConfig(env, 'again', { hostNetwork: true });
    await backend.runPodSandbox(ctx(log), { id, handler: handlerSpec(env.config), config });
    await backend.runPodSandbox(ctx(log), { id, handler: handlerSpec(env.config), config });
    const mine = [...engine.containers.values()].filter((c) => c.body.Labels[LABEL.id] === id);
    assert.equal(mine.length, 1);
  });

  it('refuses a second pod with the same name and attempt', async () => {
    const config = sandboxConfig(env, 'dup', { hostNetwork: true });
    await backend.runPodSandbox(ctx(log), { id: newId(), handler: handlerSpec(env.config), config });
    await assert.rejects(backend.runPodSandbox(ctx(log), { id: newId(), handler: handlerSpec(env.config), config }), {
      name: 'AlreadyExistsError',
    });
  });

  it('creates containers only from pulled images, and runs the lifecycle', async () => {
    const { id: sid, config: sc } = await runPod('life');
    const cid = newId();
    await assert.rejects(
      backend.createContainer(
        ctx(log),
        withLogPath({
          id: cid,
          sandboxId: sid,
          config: containerConfig('c', 'docker.io/library/nginx:1'),
          sandboxConfig: sc,
        }),
      ),
      { name: 'NotFoundError' },
    );
    await backend.createContainer(
      ctx(log),
      withLogPath({
        id: cid,
        sandboxId: sid,
        config: containerConfig('c', 'busybox:1.36'),
        sandboxConfig: sc,
      }),
    );
    assert.equal(
      containerStatus((await backend.containerStatus(ctx(log), cid, false)).facts).state,
      'CONTAINER_CREATED',
    );
    await backend.startContainer(ctx(log), cid);
    assert.equal(
      containerStatus((await backend.containerStatus(ctx(log), cid, false)).facts).state,
      'CONTAINER_RUNNING',
    );
    await backend.updateContainerResources(ctx(log), cid, {
      linux: {
        cpu_period: '0',
        cpu_quota: '0',
        cpu_shares: '256',
        memory_limit_in_bytes: '1048576',
        oom_score_adj: '0',
        cpuset_cpus: '',
        cpuset_mems: '',
        hugepage_limits: [],
        unified: {},
        memory_swap_limit_in_bytes: '0',
      },
      windows: null,
    });
    const res = containerStatus((await backend.containerStatus(ctx(log), cid, false)).facts).resources?.linux;
    assert.deepEqual([res?.cpu_shares, res?.memory_limit_in_bytes], ['256', '1048576']);
    await backend.stopPodSandbox(ctx(log), sid);
    assert.equal(
      containerStatus((await backend.containerStatus(ctx(log), cid, false)).facts).state,
      'CONTAINER_EXITED',
    );
    assert.equal(sandboxStatus((await backend.podSandboxStatus(ctx(log), sid, false)).facts).state, 'SANDBOX_NOTREADY');
    await backend.stopPodSandbox(ctx(log), sid);
    await backend.removePodSandbox(ctx(log), sid);
    await assert.rejects(backend.containerStatus(ctx(log), cid, false), { name: 'NotFoundError' });
    await backend.removePodSandbox(ctx(log), sid);
  });

  it('rebuilds lists and statuses from Docker alone after a restart', async () => {
    const { id } = await runPod('survivor');
    const fresh = buildDockerBackend(deps(env, log), engine);
    await fresh.start(ctx(log));
    try {
      const pods = await fresh.listPodSandboxes(ctx(log));
      const pod = pods.find((p) => p.id === id);
      assert.ok(pod);
      assert.equal(pod.metadata?.name, 'survivor');
      assert.equal(sandboxStatus((await fresh.podSandboxStatus(ctx(log), id, false)).facts).state, 'SANDBOX_READY');
    } finally {
      await fresh.close();
    }
  });

  it('reports dockerd down as unhealthy and its calls as UNAVAILABLE, then recovers', async () => {
    engine.down = true;
    try {
      const h = await backend.health(ctx(log));
      assert.equal(h.ready, false);
      assert.equal(h.reason, 'DockerDaemonUnavailable');
      await assert.rejects(backend.listPodSandboxes(ctx(log)), { name: 'UnavailableError' });
      await assert.rejects(
        backend.stopPodSandbox(ctx(log), 'any'),
        { name: 'UnavailableError' },
        'idempotent success only when Docker can say so',
      );
      await assert.rejects(backend.images.list(ctx(log)), { name: 'UnavailableError' });
    } finally {
      engine.down = false;
    }
    assert.equal((await backend.health(ctx(log))).ready, true);
    assert.ok((await backend.listPodSandboxes(ctx(log))).length > 0);
  });
});
