import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routerFixture, podConfig, containerConfig } from '../helpers/router-fixture';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, UnavailableError } from '../../src/errors';
import { reconcile } from '../../src/router/reconcile';
import { nullLogger } from '../../src/log/logger';
import { ExitWatcher } from '../../src/router/exit-watcher';
import { ALL_CAPS, FakeBackend } from '../helpers/fake-backend';
import { missingCapability } from '../../src/router/select';

test('routing records the owner; later calls go to it, never to the default', async () => {
  const f = routerFixture();
  try {
    const id = await f.router.sandboxes.run(f.ctx(), podConfig('a'), 'docker');
    assert.equal(f.store.getSandbox(id)?.backend, 'docker');
    assert.equal(f.store.getSandbox(id)?.phase, 'ready');
    assert.equal(f.store.getSandbox(id)?.reason, 'runtime_handler');
    const st = await f.router.sandboxes.status(f.ctx(), id.slice(0, 8), true);
    assert.equal(st.status.runtime_handler, 'docker');
    assert.deepEqual(JSON.parse(st.info.crimux ?? '{}').reason, 'runtime_handler');
    assert.ok(f.backends.get('docker')?.calls.includes('podSandboxStatus'));
    assert.ok(!f.backends.get('runc')?.calls.includes('podSandboxStatus'));
  } finally {
    f.close();
  }
});

test('stop/remove of unknown IDs succeed; status of one is NotFound; ambiguous prefixes are refused', async () => {
  const f = routerFixture();
  try {
    await f.router.sandboxes.stop(f.ctx(), 'f'.repeat(64));
    await f.router.sandboxes.remove(f.ctx(), 'nothex!');
    await f.router.containers.stop(f.ctx(), 'e'.repeat(64), 10);
    await f.router.containers.remove(f.ctx(), 'e'.repeat(64));
    await assert.rejects(f.router.sandboxes.status(f.ctx(), 'f'.repeat(64), false), NotFoundError);
    await assert.rejects(f.router.containers.status(f.ctx(), 'abc', false), NotFoundError);
    await assert.rejects(
      f.router.containers.create(f.ctx(), 'f'.repeat(64), containerConfig('c'), podConfig('x')),
      NotFoundError,
    );
    f.store.insertSandbox({
      id: 'aa' + '0'.repeat(62),
      backend: 'runc',
      handler: 'runc',
      reason: 't',
      name: 'p1',
      namespace: 'n',
      uid: '',
      attempt: 0,
      labels: {},
      annotations: {},
      createdAt: '1',
    });
    f.store.insertSandbox({
      id: 'ab' + '0'.repeat(62),
      backend: 'runc',
      handler: 'runc',
      reason: 't',
      name: 'p2',
      namespace: 'n',
      uid: '',
      attempt: 0,
      labels: {},
      annotations: {},
      createdAt: '1',
    });
    await assert.rejects(f.router.sandboxes.status(f.ctx(), 'a', false), InvalidArgumentError);
  } finally {
    f.close();
  }
});

test('a failed backend create is undone and leaves no record', async () => {
  const f = routerFixture();
  try {
    const runc = f.backends.get('runc');
    assert.ok(runc);
    runc.failRunPodSandbox = true;
    await assert.rejects(f.router.sandboxes.run(f.ctx(), podConfig('bad'), ''), UnavailableError);
    assert.equal(f.store.listSandboxes().length, 0);
    assert.equal(runc.sandboxes.size, 0, 'the undo removed what the backend had made');
    assert.ok(runc.calls.includes('removePodSandbox'));
  } finally {
    f.close();
  }
});

test('bad input is refused before anything is recorded', async () => {
  const f = routerFixture();
  try {
    const huge = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, 'v'.repeat(100)]));
    const cases = [
      podConfig('', {}),
      podConfig('x', { annotations: huge }),
      podConfig('x', { log_directory: 'relative/dir' }),
      podConfig('x', { log_directory: '/var/log/../../etc' }),
      podConfig('a/b'),
      // Resources are read by one rule for every backend (src/host/cri-resources.ts), checked before routing.
      podConfig('x', { linux: { cgroup_parent: '', sysctls: {}, overhead: { memory_limit_in_bytes: '-1' } } }),
    ];
    for (const c of cases) await assert.rejects(f.router.sandboxes.run(f.ctx(), c, ''), InvalidArgumentError);
    await assert.rejects(f.router.sandboxes.run(f.ctx(), podConfig('x'), 'nope'), /unknown handler "nope"/);
    await assert.rejects(f.router.sandboxes.run(f.ctx(), null, ''), InvalidArgumentError);
    assert.equal(f.store.listSandboxes().length, 0);
    const id = await f.router.sandboxes.run(f.ctx(), podConfig('ok', { log_directory: '/tmp/logs' }), '');
    const bad = [
      containerConfig('c', { log_path: '../escape.log' }),
      containerConfig('c', {
        mounts: [{ container_path: '/data', host_path: '/var/lib/crimux/secret', readonly: false }],
      }),
      containerConfig('c', { image: { image: '' } }),
      containerConfig('c', { envs: [{ key: 'A=B', value: 'x' }] }),
      containerConfig('c', { linux: { resources: { cpu_shares: '-2' }, security_context: null } }),
      containerConfig('c', { linux: { resources: { cpu_quota: '9007199254740993' }, security_context: null } }),
      containerConfig('c', { linux: { resources: { oom_score_adj: '1001' }, security_context: null } }),
      containerConfig('c', { linux: { resources: { oom_score_adj: '-1001' }, security_context: null } }),
    ];
    for (const c of bad) {
      await assert.rejects(
        f.router.containers.create(f.ctx(), id, c, podConfig('ok', { log_directory: '/tmp/logs' })),
        InvalidArgumentError,
      );
    }
    assert.equal(f.store.listContainers().length, 0);
  } finally {
    f.close();
  }
});

const NO_ASKS = { privileged: false, hostNetwork: false, hostPid: false, hostIpc: false };

test('pods and their containers are held to the backend capabilities once, before any backend call (#22)', async () => {
  // A backend with neither host namespaces nor privilege (as rkt's stage1 for privilege, a VM for namespaces).
  const confined = {
    ...ALL_CAPS,
    hostNetwork: false,
    hostPid: false,
    hostIpc: false,
    privileged: false,
    targetPidNamespace: false,
  };
  const f = routerFixture([new FakeBackend('runc'), new FakeBackend('docker', 'docker', confined)]);
  try {
    const sc = (s: Record<string, unknown>) => ({ linux: { cgroup_parent: '', sysctls: {}, security_context: s } });
    await assert.rejects(
      f.router.sandboxes.run(f.ctx(), podConfig('p', sc({ namespace_options: { pid: 'NODE' } })), 'docker'),
      (e: unknown) => e instanceof InvalidArgumentError && /namespace_options\.pid=NODE/.test(e.message),
    );
    // A user namespace is refused, never ignored: the pod would run as the host's root believing otherwise.
    await assert.rejects(
      f.router.sandboxes.run(
        f.ctx(),
        podConfig('u', sc({ namespace_options: { userns_options: { mode: 'POD', uids: [], gids: [] } } })),
        'docker',
      ),
      (e: unknown) => e instanceof InvalidArgumentError && /namespace_options\.userns_options/.test(e.message),
    );
    assert.equal(f.store.listSandboxes().length, 0);
    await f.router.sandboxes.run(
      f.ctx(),
      podConfig('n', sc({ namespace_options: { userns_options: { mode: 'NODE' } } })),
      'docker',
    );
    assert.equal(
      missingCapability({ ...NO_ASKS, userNamespace: true }, { ...confined, userNamespaces: true }),
      undefined,
      'a backend with user namespaces takes them',
    );
    const id = await f.router.sandboxes.run(f.ctx(), podConfig('p'), 'docker');
    const asks: [Record<string, unknown>, string][] = [
      [{ privileged: true }, 'config.linux.security_context.privileged'],
      [{ namespace_options: { pid: 'NODE' } }, 'config.linux.security_context.namespace_options.pid=NODE'],
      [{ namespace_options: { ipc: 'NODE' } }, 'config.linux.security_context.namespace_options.ipc=NODE'],
      [{ namespace_options: { network: 'NODE' } }, 'config.linux.security_context.namespace_options.network=NODE'],
      [{ namespace_options: { pid: 'TARGET' } }, 'config.linux.security_context.namespace_options.pid=TARGET'],
      [{ namespace_options: { userns_options: { mode: 'POD' } } }, 'namespace_options.userns_options'],
      [{ namespace_options: { userns_options: {} } }, 'namespace_options.userns_options'],
    ];
    for (const [s, field] of asks) {
      await assert.rejects(
        f.router.containers.create(f.ctx(), id, containerConfig('c', sc(s)), podConfig('p')),
        (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(field),
      );
    }
    assert.equal(f.store.listContainers().length, 0);
    assert.equal(f.backends.get('docker')?.containers.size, 0);
    // A backend that has them all takes the same container.
    const r = await f.router.sandboxes.run(f.ctx(), podConfig('q'), 'runc');
    await f.router.containers.create(f.ctx(), r, containerConfig('c', sc({ privileged: true })), podConfig('q'));
  } finally {
    f.close();
  }
});

test('pid=TARGET joins only a container of the same pod; an unknown target is NotFound, before any record', async () => {
  const f = routerFixture([new FakeBackend('runc'), new FakeBackend('docker', 'docker')]);
  try {
    const a = await f.router.sandboxes.run(f.ctx(), podConfig('a'), 'docker');
    const b = await f.router.sandboxes.run(f.ctx(), podConfig('b'), 'docker');
    const inA = await f.router.containers.create(f.ctx(), a, containerConfig('app'), podConfig('a'));
    const inB = await f.router.containers.create(f.ctx(), b, containerConfig('app'), podConfig('b'));
    const debug = (target: string) =>
      containerConfig('debug', {
        linux: {
          security_context: { namespace_options: { network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: target } },
        },
      });
    const before = f.store.listContainers().length;
    await assert.rejects(
      f.router.containers.create(f.ctx(), a, debug(inB), podConfig('a')),
      (e: unknown) => e instanceof InvalidArgumentError && /another pod sandbox/.test(e.message),
    );
    await assert.rejects(
      f.router.containers.create(f.ctx(), a, debug('f'.repeat(64)), podConfig('a')),
      (e: unknown) => e instanceof NotFoundError && /PID namespace target/.test(e.message),
    );
    assert.equal(f.store.listContainers().length, before, 'nothing half-made');
    await f.router.containers.create(f.ctx(), a, debug(inA), podConfig('a'));
  } finally {
    f.close();
  }
});

test('concurrent RunPodSandbox with the same name and attempt yields one sandbox', async () => {
  const f = routerFixture();
  try {
    const [a, b] = await Promise.allSettled([
      f.router.sandboxes.run(f.ctx(), podConfig('same'), ''),
      f.router.sandboxes.run(f.ctx(), podConfig('same'), ''),
    ]);
    // The second either joins the in-flight create (same ID) or is refused as AlreadyExists.
    const ids = [a, b].filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<string>).value);
    const errs = [a, b]
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason as unknown);
    assert.ok(
      errs.every((e) => e instanceof AlreadyExistsError),
      String(errs[0]),
    );
    assert.equal(new Set(ids).size, 1);
    assert.equal(f.store.listSandboxes().length, 1);
    assert.equal(f.backends.get('runc')?.sandboxes.size, 1);
    await assert.rejects(f.router.sandboxes.run(f.ctx(), podConfig('same'), ''), AlreadyExistsError);
  } finally {
    f.close();
  }
});

test('a create that outlives its caller is handed to the retry, not duplicated', async () => {
  const f = routerFixture();
  try {
    const runc = f.backends.get('runc');
    assert.ok(runc);
    const slow = runc.runPodSandbox.bind(runc);
    runc.runPodSandbox = async (ctx, req) => {
      await new Promise((r) => setTimeout(r, 300));
      return slow(ctx, req);
    };
    await assert.rejects(f.router.sandboxes.run(f.ctx(50), podConfig('slow'), ''));
    const id = await f.router.sandboxes.run(f.ctx(), podConfig('slow'), '');
    assert.equal(f.store.listSandboxes().length, 1);
    assert.equal(f.store.getSandbox(id)?.phase, 'ready');
    assert.equal(runc.sandboxes.size, 1);
  } finally {
    f.close();
  }
});

test('lists merge backends; a failing or hanging backend is answered from its last-known snapshot', async () => {
  const f = routerFixture();
  try {
    const a = await f.router.sandboxes.run(f.ctx(), podConfig('a'), 'runc');
    const b = await f.router.sandboxes.run(f.ctx(), podConfig('b'), 'docker');
    await f.router.containers.create(f.ctx(), b, containerConfig('web'), podConfig('b'));
    const all = await f.router.lists.sandboxes(f.ctx(), {});
    assert.deepEqual(all.map((s) => s.id).sort(), [a, b].sort());
    assert.equal(all.find((s) => s.id === b)?.runtime_handler, 'docker');
    const docker = f.backends.get('docker');
    assert.ok(docker);
    for (const mode of ['fail', 'hang'] as const) {
      docker.mode = mode;
      const during = await f.router.lists.sandboxes(f.ctx(), {});
      assert.deepEqual(during.map((s) => s.id).sort(), [a, b].sort(), `complete while docker is ${mode}`);
      assert.equal(during.find((s) => s.id === b)?.state, 'SANDBOX_READY');
      const ctrs = await f.router.lists.containers(f.ctx(), {});
      assert.equal(ctrs.length, 1);
    }
    const failures = await f.metrics.listPartialFailures.get();
    assert.ok(failures.values.some((v) => v.labels.backend === 'docker' && v.value >= 4));
    docker.mode = 'ok';
    const st = await f.router.status.status(f.ctx());
    assert.equal(st.status.conditions[0]?.status, true);
  } finally {
    f.close();
  }
});

test('list filters: id prefix, state, label selector, pod sandbox id', async () => {
  const f = routerFixture();
  try {
    const a = await f.router.sandboxes.run(f.ctx(), podConfig('a'), '');
    const b = await f.router.sandboxes.run(f.ctx(), podConfig('b'), '');
    await f.router.sandboxes.stop(f.ctx(), b);
    const c1 = await f.router.containers.create(f.ctx(), a, containerConfig('x'), podConfig('a'));
    await f.router.containers.create(f.ctx(), b, containerConfig('y'), podConfig('b'));
    await f.router.containers.start(f.ctx(), c1);
    const L = f.router.lists;
    assert.deepEqual(
      (await L.sandboxes(f.ctx(), { id: a.slice(0, 10) })).map((s) => s.id),
      [a],
    );
    assert.deepEqual(
      (await L.sandboxes(f.ctx(), { state: 'SANDBOX_NOTREADY' })).map((s) => s.id),
      [b],
    );
    assert.deepEqual(
      (await L.sandboxes(f.ctx(), { labelSelector: { app: 'a' } })).map((s) => s.id),
      [a],
    );
    assert.deepEqual(await L.sandboxes(f.ctx(), { id: 'ffff' }), []);
    assert.deepEqual(
      (await L.containers(f.ctx(), { podSandboxId: a.slice(0, 6) })).map((c) => c.id),
      [c1],
    );
    assert.deepEqual(
      (await L.containers(f.ctx(), { state: 'CONTAINER_RUNNING' })).map((c) => c.id),
      [c1],
    );
    assert.equal((await L.containers(f.ctx(), { labelSelector: { c: 'y' } })).length, 1);
  } finally {
    f.close();
  }
});

test('reconcile rolls back intents, finishes removals, forgets ghosts, adopts orphans, skips down backends', async () => {
  const f = routerFixture();
  try {
    const runc = f.backends.get('runc');
    const docker = f.backends.get('docker');
    assert.ok(runc && docker);
    const kept = await f.router.sandboxes.run(f.ctx(), podConfig('kept'), 'runc');
    const ghost = await f.router.sandboxes.run(f.ctx(), podConfig('ghost'), 'runc');
    runc.sandboxes.delete(ghost);
    const removing = await f.router.sandboxes.run(f.ctx(), podConfig('removing'), 'runc');
    f.store.updateSandbox(removing, { phase: 'removing' });
    const creatingId = 'c'.repeat(64);
    f.store.insertSandbox({
      id: creatingId,
      backend: 'runc',
      handler: 'runc',
      reason: 'default',
      name: 'half',
      namespace: 'default',
      uid: '',
      attempt: 0,
      labels: {},
      annotations: {},
      createdAt: '1',
    });
    runc.sandboxes.set(creatingId, { state: 'SANDBOX_READY', config: podConfig('half'), handler: 'runc' });
    const orphan = 'd'.repeat(64);
    runc.sandboxes.set(orphan, { state: 'SANDBOX_READY', config: podConfig('orphan'), handler: 'runc' });
    const dockerPod = await f.router.sandboxes.run(f.ctx(), podConfig('dock'), 'docker');
    docker.sandboxes.clear();
    docker.mode = 'fail';
    const report = await reconcile(
      f.store,
      [runc, docker],
      f.metrics,
      { signal: AbortSignal.timeout(5000), log: nullLogger() },
      (b) => b,
    );
    const kinds = Object.fromEntries(report.repairs.map((r) => [r.id, r.kind]));
    assert.equal(kinds[ghost], 'ghost_removed');
    // A ghost is removed by ID before it is forgotten: a cut-short removal's remains go too (#24).
    assert.equal(runc.calls.filter((c) => c === 'removePodSandbox').length, 3, runc.calls.join(','));
    assert.equal(kinds[removing], 'finished_remove');
    assert.equal(kinds[creatingId], 'rolled_back_create');
    assert.equal(kinds[orphan], 'orphan_adopted');
    assert.equal(kinds[kept], undefined);
    assert.deepEqual(report.skipped, ['docker']);
    assert.ok(f.store.getSandbox(dockerPod), 'records of an unreachable backend are kept');
    assert.equal(runc.sandboxes.has(creatingId), false);
    assert.equal(f.store.getSandbox(orphan)?.reason, 'adopted by reconcile');
    assert.deepEqual(
      f.store
        .listSandboxes({ backend: 'runc' })
        .map((s) => s.id)
        .sort(),
      [kept, orphan].sort(),
    );
  } finally {
    f.close();
  }
});

test('sysctls: only namespaced ones, and not those of a namespace shared with the host', async () => {
  const f = routerFixture();
  try {
    const pod = (sysctls: Record<string, string>, ns: Record<string, string> = {}) =>
      podConfig('s', { linux: { cgroup_parent: '', sysctls, security_context: { namespace_options: ns } } });
    for (const bad of [
      pod({ '0': '$(reboot)' }),
      pod({ 'kernel.panic': '1' }),
      pod({ 'net.ipv4.ip_forward': '1' }, { network: 'NODE' }),
      pod({ 'kernel.shmmax': '1' }, { ipc: 'NODE' }),
      pod({ 'net..x': '1' }),
    ]) {
      await assert.rejects(f.router.sandboxes.run(f.ctx(), bad, ''), InvalidArgumentError);
    }
    assert.equal(f.store.listSandboxes().length, 0);
    await f.router.sandboxes.run(
      f.ctx(),
      pod({ 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shmmax': '1000', 'net/core/somaxconn': '128' }),
      '',
    );
  } finally {
    f.close();
  }
});

test('kept lists and statuses (#21): changes through crimux are in the next call, changes on their own after one refresh', async () => {
  const f = routerFixture(undefined, { keepLists: true });
  const runc = f.backends.get('runc');
  assert.ok(runc);
  const watcher = new ExitWatcher(
    f.router.core.events,
    () => [...f.backends.values()],
    nullLogger(),
    60_000,
    f.router.core.views,
  );
  const refresh = () => (watcher as unknown as { tick(): Promise<void> }).tick();
  const lists = () => runc.calls.filter((c) => c.startsWith('list')).length;
  const ctrState = async (id: string) => (await f.router.lists.containers(f.ctx(), {})).find((c) => c.id === id)?.state;
  try {
    const pod = await f.router.sandboxes.run(f.ctx(), podConfig('kept'), 'runc');
    const ctr = await f.router.containers.create(f.ctx(), pod, containerConfig('app'), podConfig('kept'));
    assert.equal(await ctrState(ctr), 'CONTAINER_CREATED');
    // Answered from memory: no backend call while nothing changed.
    const before = lists();
    for (let i = 0; i < 5; i++) await f.router.lists.containers(f.ctx(), {});
    await f.router.lists.sandboxes(f.ctx(), {});
    await f.router.lists.sandboxes(f.ctx(), {});
    assert.equal(lists() - before, 1, 'one sandbox list fetched, the container list kept');
    const statusCalls = () => runc.calls.filter((c) => c.startsWith('containerStatus')).length;
    assert.equal((await f.router.containers.status(f.ctx(), ctr, false)).status.state, 'CONTAINER_CREATED');
    const s0 = statusCalls();
    await f.router.containers.status(f.ctx(), ctr, false);
    assert.equal(statusCalls(), s0, 'a non-verbose status is kept');

    // Through crimux: visible in the very next list and status.
    await f.router.containers.start(f.ctx(), ctr);
    assert.equal(await ctrState(ctr), 'CONTAINER_RUNNING');
    assert.equal((await f.router.containers.status(f.ctx(), ctr, false)).status.state, 'CONTAINER_RUNNING');

    // On its own (an exit no call made): kept until the refresh loop notices, then in the next list.
    const c = runc.containers.get(ctr);
    assert.ok(c);
    c.state = 'CONTAINER_EXITED';
    await refresh();
    assert.equal(await ctrState(ctr), 'CONTAINER_EXITED');
    assert.equal((await f.router.containers.status(f.ctx(), ctr, false)).status.state, 'CONTAINER_EXITED');
    const sb = runc.sandboxes.get(pod);
    assert.ok(sb);
    sb.state = 'SANDBOX_NOTREADY';
    await refresh();
    const pods = await f.router.lists.sandboxes(f.ctx(), {});
    assert.equal(pods.find((p) => p.id === pod)?.state, 'SANDBOX_NOTREADY');

    // The last-known-snapshot rule is unchanged: with the backend down, the latest state seen is answered.
    runc.mode = 'fail';
    f.router.core.views.changed('runc');
    assert.equal(await ctrState(ctr), 'CONTAINER_EXITED');
    assert.equal((await f.router.lists.sandboxes(f.ctx(), {})).find((p) => p.id === pod)?.state, 'SANDBOX_NOTREADY');
    // A backend found down is not asked again at every list (each call would pay the failure) ...
    const whileDown = lists();
    for (let i = 0; i < 3; i++) assert.equal(await ctrState(ctr), 'CONTAINER_EXITED');
    assert.equal(lists(), whileDown, 'the failure is kept');
    // ... until the refresh loop reaches it again: then lists come from it again.
    runc.mode = 'ok';
    await refresh();
    assert.equal(f.router.core.views.keptFailure('runc', 'containers'), undefined);
    assert.equal(await ctrState(ctr), 'CONTAINER_EXITED');

    // Removal through crimux: gone from the next list.
    await f.router.containers.remove(f.ctx(), ctr);
    assert.equal(await ctrState(ctr), undefined);
    await f.router.sandboxes.remove(f.ctx(), pod);
    assert.deepEqual(await f.router.lists.sandboxes(f.ctx(), {}), []);
  } finally {
    watcher.stop();
    f.close();
  }
});

test('an unfiltered merged list is answered as the same frozen array until a kept list or a record changes (#21)', async () => {
  const f = routerFixture(undefined, { keepLists: true });
  try {
    const pod = await f.router.sandboxes.run(f.ctx(), podConfig('merged'), 'runc');
    const a = await f.router.containers.create(f.ctx(), pod, containerConfig('a'), podConfig('merged'));
    const b = await f.router.containers.create(f.ctx(), pod, containerConfig('b'), podConfig('merged'));
    const first = await f.router.lists.containers(f.ctx(), {});
    assert.deepEqual(first.map((c) => c.id).sort(), [a, b].sort());
    assert.ok(Object.isFrozen(first), 'what is kept cannot be changed by a caller');
    assert.equal(await f.router.lists.containers(f.ctx(), {}), first, 'nothing changed: the same answer');
    const pods = await f.router.lists.sandboxes(f.ctx(), {});
    assert.equal(await f.router.lists.sandboxes(f.ctx(), {}), pods);

    // A filtered list is made anew, from the same kept lists.
    const filtered = await f.router.lists.containers(f.ctx(), { id: a });
    assert.deepEqual(
      filtered.map((c) => c.id),
      [a],
    );
    assert.ok(!Object.isFrozen(filtered));

    // A record changed without the backend's list changing (here: gone from the store): the next answer drops it.
    f.router.core.store.deleteContainer(b);
    const afterRecord = await f.router.lists.containers(f.ctx(), {});
    assert.notEqual(afterRecord, first);
    assert.deepEqual(
      afterRecord.map((c) => c.id),
      [a],
    );

    // A change through crimux (a new kept list): in the next answer.
    await f.router.containers.start(f.ctx(), a);
    const afterStart = await f.router.lists.containers(f.ctx(), {});
    assert.notEqual(afterStart, afterRecord);
    assert.equal(afterStart.find((c) => c.id === a)?.state, 'CONTAINER_RUNNING');
  } finally {
    f.close();
  }
});

test('the RPCs that act on one object reach its owner with the full ID: pod resources, checkpoint, stream targets', async () => {
  const f = routerFixture();
  try {
    const pod = await f.router.sandboxes.run(f.ctx(), podConfig('owner'), 'docker');
    const ctr = await f.router.containers.create(f.ctx(), pod, containerConfig('c'), podConfig('owner'));
    const docker = f.backends.get('docker');
    await f.router.sandboxes.updateResources(f.ctx(), pod.slice(0, 10), { overhead: null, resources: null });
    assert.equal(docker?.lastTarget.updatePodSandboxResources, pod);
    await f.router.containers.checkpoint(f.ctx(), ctr.slice(0, 10), {
      container_id: ctr.slice(0, 10),
      location: '/tmp/x',
      timeout: '0',
    });
    assert.equal(docker?.lastTarget.checkpointContainer, ctr);
    assert.deepEqual(f.router.containers.streamTarget(ctr.slice(0, 10)), { backend: docker, containerId: ctr });
    assert.deepEqual(f.router.sandboxes.streamTarget(pod.slice(0, 10)), { backend: docker, sandboxId: pod });
    assert.ok(!f.backends.get('runc')?.calls.includes('checkpointContainer'));
    assert.throws(() => f.router.containers.streamTarget('f'.repeat(64)), NotFoundError);
    await assert.rejects(
      f.router.sandboxes.updateResources(f.ctx(), 'f'.repeat(64), { overhead: null, resources: null }),
      NotFoundError,
    );
  } finally {
    f.close();
  }
});

test('Exec and ExecSync without a program are refused by the router for every backend, before any backend call', async () => {
  const f = routerFixture();
  try {
    const pod = await f.router.sandboxes.run(f.ctx(), podConfig('cmd'), 'docker');
    const ctr = await f.router.containers.create(f.ctx(), pod, containerConfig('c'), podConfig('cmd'));
    for (const cmd of [[], [''], ['', 'x']]) {
      await assert.rejects(f.router.containers.execSync(f.ctx(), ctr, cmd, 1), InvalidArgumentError);
      assert.throws(() => f.router.containers.execTarget(ctr, cmd), InvalidArgumentError);
    }
    assert.ok(!f.backends.get('docker')?.calls.includes('execSync'));
    assert.deepEqual(f.router.containers.execTarget(ctr, ['sh']), {
      backend: f.backends.get('docker'),
      containerId: ctr,
    });
  } finally {
    f.close();
  }
});
