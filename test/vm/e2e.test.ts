/**
 * The vm backend end to end over crimux's CRI socket: a pod with RuntimeClass handler `vm` and one with the
 * untrusted-workload annotation boot real VMs; containers see the guest kernel, share the pod network, log in
 * CRI format, stop with the grace period; ExecSync times out; kill -9 of crimux leaves the VM running and a
 * restarted crimux manages it; removal leaves no qemu, socket, disk or netns behind.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { grpc } from '../helpers/cri-client';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX, HTTP } from '../fixtures/images';
import * as h from './helpers';

const SLOT = 3;

const UNTRUSTED = 'io.kubernetes.cri.untrusted-workload';

describe('vm backend end to end over CRI', { timeout: 900_000 }, () => {
  let daemon: DaemonHandle;
  const tmp = h.tempDir();
  const logRoot = path.join(tmp, 'pods');
  const pods: string[] = [];

  before(async () => {
    h.ensureGuest();
    await ensureTestRegistry();
    daemon = await startDaemon({
      config: {
        handlers: { vm: { backend: 'vm', options: {} } },
        // Annotation routing is denied by default (issue #19); this test's operator allows it for vm.
        routing: { annotationPolicy: [{ namespaces: ['*'], handlers: ['vm'] }] },
        backends: { vm: { enabled: true, guestDir: h.GUEST_DIR } },
        network: { confDir: h.writeCniConf(tmp, SLOT) },
        security: { logRoot },
      },
    });
    for (const image of [BUSYBOX.ref, HTTP.ref]) {
      await daemon.img('PullImage', { image: { image, runtime_handler: 'vm' } }, { deadlineMs: 120_000 });
    }
  });

  after(async () => {
    for (const id of pods)
      await daemon?.rt('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 60_000 }).catch(() => undefined);
    await daemon?.stop().catch(() => daemon?.kill9());
    if (daemon) {
      for (const pid of h.qemuProcesses(daemon.runDir)) process.kill(pid, 'SIGKILL');
      h.releaseMount(path.join(daemon.runDir, 'netns'));
    }
    h.removeBridge(SLOT);
    await daemon?.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const podConfig = (name: string, annotations: Record<string, string> = {}) => ({
    metadata: { name, namespace: 'default', uid: `vm-${name}-${process.pid}`, attempt: 0 },
    hostname: name,
    log_directory: path.join(logRoot, `default_${name}`),
    labels: { app: name },
    annotations,
  });
  type Pod = { id: string; config: ReturnType<typeof podConfig> };
  const run = async (name: string, how: { handler?: string; annotations?: Record<string, string> }): Promise<Pod> => {
    const config = podConfig(name, how.annotations);
    const r = await daemon.rt('RunPodSandbox', { config, runtime_handler: how.handler ?? '' }, { deadlineMs: 180_000 });
    pods.push(r.pod_sandbox_id);
    return { id: r.pod_sandbox_id, config };
  };
  const start = async (pod: Pod, name: string, command: string[], image: string = BUSYBOX.ref) => {
    const config = { metadata: { name }, image: { image }, command, log_path: `${name}/0.log` };
    const c = await daemon.rt(
      'CreateContainer',
      { pod_sandbox_id: pod.id, config, sandbox_config: pod.config },
      { deadlineMs: 120_000 },
    );
    await daemon.rt('StartContainer', { container_id: c.container_id }, { deadlineMs: 60_000 });
    return c.container_id;
  };
  const status = async (id: string) => (await daemon.rt('ContainerStatus', { container_id: id })).status!;
  const exec = (id: string, cmd: string[], timeout = 30) =>
    daemon.rt('ExecSync', { container_id: id, cmd, timeout }, { deadlineMs: 120_000 });

  let byHandler: Pod;
  let sleeper: string;

  it('boots VMs for runtime handler vm and for the untrusted-workload annotation', async () => {
    byHandler = await run('by-handler', { handler: 'vm' });
    const byAnnotation = await run('untrusted', { annotations: { [UNTRUSTED]: 'true' } });
    for (const pod of [byHandler, byAnnotation]) {
      const st = await daemon.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true });
      assert.equal(st.status?.state, 'SANDBOX_READY');
      assert.equal(st.status?.runtime_handler, 'vm');
      assert.match(st.status?.network?.ip ?? '', h.net(SLOT).ipPattern);
      assert.equal(h.qemuProcesses(path.join(daemon.runDir, 'vm', pod.id.slice(0, 16))).length, 1);
    }
    await daemon.rt('StopPodSandbox', { pod_sandbox_id: byAnnotation.id }, { deadlineMs: 60_000 });
    await daemon.rt('RemovePodSandbox', { pod_sandbox_id: byAnnotation.id }, { deadlineMs: 60_000 });
    assert.deepEqual(h.qemuProcesses(path.join(daemon.runDir, 'vm', byAnnotation.id.slice(0, 16))), []);
  });

  it('runs containers on the guest kernel, sharing the pod network, with CRI logs and exit codes', async () => {
    sleeper = await start(byHandler, 'sleeper', ['sh', '-c', 'echo started; exec sleep 1000']);
    const uname = await exec(sleeper, ['uname', '-r']);
    assert.equal(uname.exit_code, 0);
    assert.notEqual(uname.stdout.toString().trim(), h.hostUname());
    assert.match(uname.stdout.toString(), /cloud-amd64/);

    await start(byHandler, 'http', [], HTTP.ref);
    const body = await h.waitFor('http via localhost from the other container', async () => {
      const r = await exec(sleeper, ['wget', '-qO-', `http://127.0.0.1:${HTTP.port}/`], 10);
      return r.exit_code === 0 ? r.stdout.toString() : undefined;
    });
    assert.equal(body, HTTP.body('by-handler'));

    const job = await start(byHandler, 'job', ['sh', '-c', 'echo out; echo err >&2; exit 5']);
    const st = await h.waitFor('job exits', async () => {
      const s = await status(job);
      return s.state === 'CONTAINER_EXITED' ? s : undefined;
    });
    assert.deepEqual([st.exit_code, st.reason], [5, 'Error']);
    const log = fs.readFileSync(st.log_path!, 'utf8');
    assert.match(log, /^\S+Z stdout F out$/m);
    assert.match(log, /^\S+Z stderr F err$/m);
  });

  it('times out ExecSync with DEADLINE_EXCEEDED', async () => {
    await assert.rejects(
      exec(sleeper, ['sleep', '60'], 2),
      (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED,
    );
  });

  it('keeps the VM across kill -9 of crimux; the restarted daemon manages it', async () => {
    await daemon.kill9();
    assert.equal(h.qemuProcesses(path.join(daemon.runDir, 'vm', byHandler.id.slice(0, 16))).length, 1);
    await daemon.restart();
    const st = await daemon.rt('PodSandboxStatus', { pod_sandbox_id: byHandler.id });
    assert.equal(st.status?.state, 'SANDBOX_READY');
    assert.equal((await status(sleeper)).state, 'CONTAINER_RUNNING');
    const r = await exec(sleeper, ['sh', '-c', 'echo alive']);
    assert.equal(r.stdout.toString(), 'alive\n');
  });

  it('stops with the grace period and removes everything', async () => {
    const t0 = Date.now();
    await daemon.rt('StopContainer', { container_id: sleeper, timeout: 2 }, { deadlineMs: 60_000 });
    const st = await status(sleeper);
    assert.deepEqual([st.state, st.exit_code], ['CONTAINER_EXITED', 137]);
    assert.ok(Date.now() - t0 >= 1900);
    await daemon.rt('StopPodSandbox', { pod_sandbox_id: byHandler.id }, { deadlineMs: 60_000 });
    await daemon.rt('RemovePodSandbox', { pod_sandbox_id: byHandler.id }, { deadlineMs: 60_000 });
    assert.deepEqual(h.qemuProcesses(path.join(daemon.runDir, 'vm', byHandler.id.slice(0, 16))), []);
    assert.ok(!fs.existsSync(path.join(daemon.runDir, 'vm', byHandler.id.slice(0, 16))));
    assert.ok(!fs.existsSync(path.join(daemon.stateDir, 'backends', 'vm', 'pods', byHandler.id)));
    assert.ok(!fs.existsSync(path.join(daemon.runDir, 'netns', byHandler.id)));
    const list = await daemon.rt('ListPodSandbox', {});
    assert.ok(!list.items.some((p) => p.id === byHandler.id));
  });
});
