/**
 * The runc backend end to end over crimux's CRI socket, as root on the real host: a pod and a busybox container
 * from the local registry, ExecSync, the CRI log file, exit codes, stop/remove with no leftover process, mount,
 * netns, cgroup or file; a second pod on handler `runc-b` lands in that handler's runtime root; kill -9 of crimux
 * while containers run, then a restart: still running and manageable, and an exit that happened meanwhile
 * reports its code.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { criLogLines, parseCriLog } from '../../src/host/cri-log';
import { BUSYBOX } from '../fixtures/images';
import { grpc, rejectsWithCode } from '../helpers/cri-client';
import { ensureTestRegistry } from '../helpers/registry';
import {
  containerStatus,
  exec,
  runPod,
  startContainer,
  startRuncDaemon,
  waitExited,
  type Pod,
  type RuncDaemon,
} from './cri';
import * as e from './env';

const SLOT = 1;

async function runtimeList(root: string): Promise<string[]> {
  const { stdout } = await e.run('runc', ['--root', root, 'list', '-q']);
  return stdout.split('\n').filter(Boolean);
}

describe('runc backend end to end over CRI', { timeout: 600_000 }, () => {
  let r: RuncDaemon;
  const pods: string[] = [];
  let pod: Pod;
  let app = '';

  before(async () => {
    await ensureTestRegistry();
    r = await startRuncDaemon(SLOT);
    await r.daemon.img(
      'PullImage',
      { image: { image: BUSYBOX.ref, runtime_handler: 'runc' } },
      { deadlineMs: 120_000 },
    );
  });

  after(async () => {
    for (const id of pods)
      await r?.daemon.rt('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 60_000 }).catch(() => undefined);
    await r?.cleanup();
  });

  it('reports the runc handlers and network ready in Status', async () => {
    const st = await r.daemon.rt('Status', { verbose: false });
    const cond = Object.fromEntries((st.status?.conditions ?? []).map((c) => [c.type, c.status]));
    assert.equal(cond.RuntimeReady, true);
    assert.equal(cond.NetworkReady, true);
  });

  it('runs a pod and a busybox container: ExecSync, CRI log, exit code', async () => {
    pod = await runPod(r.daemon, r.logRoot, 'web');
    pods.push(pod.id);
    const ps = await r.daemon.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: false });
    assert.equal(ps.status?.state, 'SANDBOX_READY');
    assert.equal(ps.status?.runtime_handler, 'runc');
    assert.match(ps.status?.network?.ip ?? '', /^10\.89\.51\.\d+$/);
    assert.ok((await runtimeList(r.rootA)).includes(pod.id), 'pause container in runtime root A');

    app = await startContainer(r.daemon, pod, 'app', [
      'sh',
      '-c',
      "trap 'exit 0' TERM; echo started; while :; do sleep 1; done",
    ]);
    const st = await containerStatus(r.daemon, app);
    assert.equal(st.state, 'CONTAINER_RUNNING');
    assert.equal(st.log_path, path.join(pod.config.log_directory, 'app/0.log'));
    assert.equal(st.image?.image, BUSYBOX.ref);

    const out = await exec(r.daemon, app, ['sh', '-c', 'echo hi; cat /etc/hostname; exit 4']);
    assert.equal(out.exit_code, 4);
    assert.equal(out.stdout.toString(), 'hi\nweb\n');

    const lines = await e.waitFor('log line', async () => {
      const l = criLogLines(parseCriLog(await fs.readFile(st.log_path!, 'utf8').catch(() => '')));
      return l.length > 0 ? l : undefined;
    });
    assert.deepEqual(lines, ['started']);

    const failing = await startContainer(r.daemon, pod, 'failing', ['sh', '-c', 'echo bye; exit 42']);
    const done = await waitExited(r.daemon, failing);
    assert.equal(done.exit_code, 42);
    assert.equal(done.reason, 'Error');
    await r.daemon.rt('RemoveContainer', { container_id: failing });
    await rejectsWithCode(containerStatus(r.daemon, failing), grpc.status.NOT_FOUND);
  });

  it('ExecSync past its timeout fails with DEADLINE_EXCEEDED', async () => {
    await rejectsWithCode(exec(r.daemon, app, ['sleep', '60'], 1), grpc.status.DEADLINE_EXCEEDED);
  });

  it('puts a pod of handler runc-b in runtime root B', async () => {
    const b = await runPod(r.daemon, r.logRoot, 'other', 'runc-b');
    pods.push(b.id);
    const ps = await r.daemon.rt('PodSandboxStatus', { pod_sandbox_id: b.id, verbose: false });
    assert.equal(ps.status?.runtime_handler, 'runc-b');
    const c = await startContainer(r.daemon, b, 'b', ['sleep', '1000']);
    const inB = await runtimeList(r.rootB);
    const inA = await runtimeList(r.rootA);
    assert.ok(inB.includes(b.id) && inB.includes(c), 'sandbox and container in root B');
    assert.ok(!inA.includes(b.id) && !inA.includes(c), 'nothing of it in root A');
    await r.daemon.rt('StopPodSandbox', { pod_sandbox_id: b.id });
    await r.daemon.rt('RemovePodSandbox', { pod_sandbox_id: b.id });
    await e.waitFor('root B empty', async () => ((await runtimeList(r.rootB)).length === 0 ? true : undefined), 20_000);
  });

  it('runs a host-network pod: no netns of its own, the node hostname and hosts file', async () => {
    const hn = await runPod(r.daemon, r.logRoot, 'hostnet', '', {
      linux: { security_context: { namespace_options: { network: 'NODE' } } },
    });
    pods.push(hn.id);
    assert.equal(existsSync(path.join(r.daemon.runDir, 'netns', hn.id)), false);
    const c = await startContainer(r.daemon, hn, 'hn', ['sleep', '1000']);
    assert.equal((await exec(r.daemon, c, ['hostname'])).stdout.toString().trim(), os.hostname());
    assert.match((await exec(r.daemon, c, ['cat', '/etc/hosts'])).stdout.toString(), /localhost/);
    await r.daemon.rt('StopPodSandbox', { pod_sandbox_id: hn.id });
    await r.daemon.rt('RemovePodSandbox', { pod_sandbox_id: hn.id });
  });

  it('survives kill -9 of crimux: running containers stay manageable, exits meanwhile keep their code', async () => {
    const short = await startContainer(r.daemon, pod, 'short', ['sh', '-c', 'sleep 2; exit 9']);
    await r.daemon.kill9();
    await new Promise((res) => setTimeout(res, 3000));
    await r.daemon.restart();
    assert.equal((await containerStatus(r.daemon, app)).state, 'CONTAINER_RUNNING');
    const out = await exec(r.daemon, app, ['echo', 'after-restart']);
    assert.equal(out.stdout.toString(), 'after-restart\n');
    const st = await waitExited(r.daemon, short);
    assert.equal(st.exit_code, 9);
    const ps = await r.daemon.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: false });
    assert.equal(ps.status?.state, 'SANDBOX_READY');
  });

  it('stops and removes everything and leaves nothing behind', async () => {
    const { containers } = await r.daemon.rt('ListContainers', {});
    const ids = (containers ?? []).map((c) => c.id!);
    await r.daemon.rt('StopContainer', { container_id: app, timeout: 10 });
    assert.equal((await containerStatus(r.daemon, app)).state, 'CONTAINER_EXITED');
    await r.daemon.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    await r.daemon.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    await r.daemon.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    assert.deepEqual((await r.daemon.rt('ListPodSandbox', {})).items ?? [], []);
    // Removal answers first and finishes in the background (as containerd's GC): give it a bounded moment.
    const trash = path.join(r.daemon.stateDir, 'backends', 'runc', 'trash');
    await e.waitFor(
      'background removal',
      async () => ((await fs.readdir(trash)).length === 0 ? true : undefined),
      20_000,
    );
    for (const id of [pod.id, ...ids]) {
      assert.deepEqual(e.processesMentioning(id), [], `processes of ${id}`);
      assert.deepEqual(e.mountsMentioning(id), [], `mounts of ${id}`);
      assert.deepEqual(e.cgroupsMentioning(r.cgroupParent, id), [], `cgroups of ${id}`);
    }
    assert.equal(existsSync(path.join(r.daemon.runDir, 'netns', pod.id)), false);
    const state = path.join(r.daemon.stateDir, 'backends', 'runc');
    assert.deepEqual(await fs.readdir(path.join(state, 'containers')), []);
    assert.deepEqual(await fs.readdir(path.join(state, 'sandboxes')), []);
    assert.deepEqual(await runtimeList(r.rootA), []);
  });
});
