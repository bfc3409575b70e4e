/**
 * The rkt backend end to end over crimux's CRI socket, as root: a pod with runtime_handler "rkt" and one routed by
 * the annotation crimux.io/runtime: rkt run as nspawn pods; two containers added later share the pod network;
 * exec, CRI logs, exit codes, stop of one app while the other runs; kill -9 of crimux with a running pod, restart:
 * pod and apps still there and manageable, an exit that happened meanwhile keeps its code; pod stop/remove and
 * no leftovers (process, mount, cgroup, netns, file).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX, HTTP } from '../fixtures/images';
import { grpc, rejectsWithCode } from '../helpers/cri-client';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import { waitFor } from './contract';
import * as e from './env';
import { cgroupLeftovers, removeParent } from './helpers/stage1';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';

const SLOT = 58;
const CGROUP_PARENT = `crimux-rkt-test-e2e-${process.pid}`;

function podConfig(logRoot: string, name: string, extra: Record<string, unknown> = {}) {
  const uid = `rkt-${name}-${process.pid}`;
  return {
    metadata: { name, namespace: 'default', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(logRoot, `default_${name}_${uid}`),
    labels: { app: name },
    ...extra,
  };
}

describe('rkt backend end to end over CRI', { timeout: 600_000 }, () => {
  let d: DaemonHandle;
  let dir = '';
  let logRoot = '';
  const pods: { id: string; config: ReturnType<typeof podConfig> }[] = [];
  let web = '';
  let tools = '';

  const create = async (
    pod: (typeof pods)[number],
    name: string,
    image: string,
    command: string[],
    extra: Record<string, unknown> = {},
  ) => {
    const config = { metadata: { name }, image: { image }, command, log_path: `${name}/0.log`, ...extra };
    const c = await d.rt(
      'CreateContainer',
      { pod_sandbox_id: pod.id, config, sandbox_config: pod.config },
      { deadlineMs: 120_000 },
    );
    return c.container_id;
  };
  const status = async (id: string) => (await d.rt('ContainerStatus', { container_id: id })).status!;
  const exec = (id: string, cmd: string[], timeout = 30) =>
    d.rt('ExecSync', { container_id: id, cmd, timeout }, { deadlineMs: 120_000 });
  const exited = (id: string) =>
    waitFor(
      `${id} exited`,
      async () => ((await status(id)).state === 'CONTAINER_EXITED' ? status(id) : undefined),
      30_000,
    );

  before(async () => {
    await ensureTestRegistry();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-rkt-e2e-'));
    logRoot = path.join(dir, 'pods');
    d = await startDaemon({
      config: {
        handlers: { rkt: { backend: 'rkt', options: {} } },
        defaultHandler: 'rkt',
        // Annotation routing is denied by default (issue #19); this test's operator allows it for rkt.
        routing: { annotationPolicy: [{ namespaces: ['*'], handlers: ['rkt'] }] },
        backends: { rkt: { enabled: true, stage1: { cgroupParent: CGROUP_PARENT } } },
        network: { confDir: await e.writeCniConf(dir, SLOT) },
      },
    });
    for (const img of [BUSYBOX, HTTP])
      await d.img('PullImage', { image: { image: img.ref, runtime_handler: 'rkt' } }, { deadlineMs: 120_000 });
  });

  after(async () => {
    for (const p of pods)
      await d?.rt('RemovePodSandbox', { pod_sandbox_id: p.id }, { deadlineMs: 60_000 }).catch(() => undefined);
    await d?.stop().catch(() => d.kill9());
    if (d) {
      await e.cleanupNetwork(path.join(d.runDir, 'netns'), SLOT);
      await unmountAll(d.dir).catch(() => undefined);
    }
    await removeParent(CGROUP_PARENT);
    if (d && (await mountsUnder(d.dir)).length === 0) await d.cleanup();
    if ((await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
  });

  it('reports the runtime and the network ready', async () => {
    const st = await d.rt('Status', { verbose: false });
    const cond = Object.fromEntries((st.status?.conditions ?? []).map((c) => [c.type, c.status]));
    assert.equal(cond.RuntimeReady, true);
    assert.equal(cond.NetworkReady, true);
  });

  it('runs a pod with runtime_handler rkt as an nspawn pod on the CNI network', async () => {
    const config = podConfig(logRoot, 'web');
    const r = await d.rt('RunPodSandbox', { config, runtime_handler: 'rkt' }, { deadlineMs: 120_000 });
    pods.push({ id: r.pod_sandbox_id, config });
    const ps = await d.rt('PodSandboxStatus', { pod_sandbox_id: r.pod_sandbox_id, verbose: true });
    assert.equal(ps.status?.state, 'SANDBOX_READY');
    assert.equal(ps.status?.runtime_handler, 'rkt');
    assert.match(ps.status?.network?.ip ?? '', /^10\.89\.81\.\d+$/);
    assert.ok(e.processesMentioning(`${d.stateDir}/backends/rkt/pods/run/`).some((pid) => existsSync(`/proc/${pid}`)));
  });

  it('routes a pod by the annotation crimux.io/runtime: rkt', async () => {
    const config = podConfig(logRoot, 'annotated', { annotations: { 'crimux.io/runtime': 'rkt' } });
    const r = await d.rt('RunPodSandbox', { config }, { deadlineMs: 120_000 });
    pods.push({ id: r.pod_sandbox_id, config });
    const ps = await d.rt('PodSandboxStatus', { pod_sandbox_id: r.pod_sandbox_id, verbose: true });
    assert.equal(ps.status?.state, 'SANDBOX_READY');
    assert.equal(ps.status?.runtime_handler, 'rkt');
    assert.match(JSON.stringify(ps.info ?? {}), /stage1-min/);
    await d.rt('StopPodSandbox', { pod_sandbox_id: r.pod_sandbox_id });
    await d.rt('RemovePodSandbox', { pod_sandbox_id: r.pod_sandbox_id });
    await rejectsWithCode(d.rt('PodSandboxStatus', { pod_sandbox_id: r.pod_sandbox_id }), grpc.status.NOT_FOUND);
  });

  it('two containers added later share the network; exec, logs and exit codes', async () => {
    const pod = pods[0]!;
    web = await create(pod, 'web', HTTP.ref, [], { envs: [{ key: 'PORT', value: '8080' }] });
    await d.rt('StartContainer', { container_id: web });
    tools = await create(pod, 'tools', BUSYBOX.ref, ['sh', '-c', 'echo ready; exec sleep 1000']);
    await d.rt('StartContainer', { container_id: tools });
    const body = await waitFor('http from the sibling', async () => {
      const r = await exec(tools, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 10);
      return r.exit_code === 0 ? r.stdout.toString() : undefined;
    });
    assert.equal(body, HTTP.body('web'));
    const out = await exec(tools, ['sh', '-c', 'echo hi; cat /etc/hostname; exit 4']);
    assert.equal(out.exit_code, 4);
    assert.equal(out.stdout.toString(), 'hi\nweb\n');
    const st = await status(tools);
    assert.equal(st.log_path, path.join(pod.config.log_directory, 'tools/0.log'));
    const text = await waitFor('log', async () => {
      const t = await fs.readFile(st.log_path!, 'utf8').catch(() => '');
      return t.includes('ready') ? t : undefined;
    });
    assert.match(text, /^\S+ stdout F ready$/m);
    const failing = await create(pod, 'failing', BUSYBOX.ref, ['sh', '-c', 'exit 42']);
    await d.rt('StartContainer', { container_id: failing });
    const done = await exited(failing);
    assert.equal(done.exit_code, 42);
    assert.equal(done.reason, 'Error');
    await d.rt('RemoveContainer', { container_id: failing });
    await rejectsWithCode(d.rt('ContainerStatus', { container_id: failing }), grpc.status.NOT_FOUND);
    await rejectsWithCode(exec(tools, ['sleep', '60'], 1), grpc.status.DEADLINE_EXCEEDED);
  });

  it('survives kill -9 of crimux: the pod and its apps stay manageable, exits meanwhile keep their code', async () => {
    const pod = pods[0]!;
    const short = await create(pod, 'short', BUSYBOX.ref, ['sh', '-c', 'sleep 2; exit 9']);
    await d.rt('StartContainer', { container_id: short });
    await d.kill9();
    await new Promise((r) => setTimeout(r, 3000));
    await d.restart();
    assert.equal((await d.rt('PodSandboxStatus', { pod_sandbox_id: pod.id })).status?.state, 'SANDBOX_READY');
    assert.equal((await status(tools)).state, 'CONTAINER_RUNNING');
    assert.equal((await exec(tools, ['echo', 'after-restart'])).stdout.toString(), 'after-restart\n');
    const st = await exited(short);
    assert.equal(st.exit_code, 9);
  });

  it('stops one app while the other runs, then stops and removes the pod without leftovers', async () => {
    const pod = pods[0]!;
    await d.rt('StopContainer', { container_id: web, timeout: 5 });
    assert.equal((await status(web)).state, 'CONTAINER_EXITED');
    assert.equal((await status(tools)).state, 'CONTAINER_RUNNING');
    await d.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    assert.equal((await d.rt('PodSandboxStatus', { pod_sandbox_id: pod.id })).status?.state, 'SANDBOX_NOTREADY');
    assert.equal((await status(tools)).state, 'CONTAINER_EXITED');
    await d.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    await d.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    await d.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    const rktState = path.join(d.stateDir, 'backends', 'rkt');
    assert.deepEqual((await d.rt('ListContainers', {})).containers ?? [], []);
    assert.deepEqual(e.processesMentioning(rktState), []);
    assert.deepEqual(e.mountsMentioning(rktState), []);
    assert.deepEqual(e.mountsMentioning(path.join(d.stateDir, 'images', 'snapshots')), []);
    assert.deepEqual(await cgroupLeftovers(CGROUP_PARENT), []);
    assert.equal(existsSync(path.join(d.runDir, 'netns', pod.id)), false);
    assert.deepEqual(await fs.readdir(path.join(rktState, 'pods', 'run')), []);
    assert.deepEqual(await fs.readdir(path.join(rktState, 'index', 'containers')), []);
  });
});
