/**
 * End to end over crimux's CRI socket with a real dockerd: a pod routed to docker by RuntimeClass handler and one
 * by the Frakti OS-container annotation both appear in `docker ps` under the naming scheme; containers run, exec,
 * log in CRI format, stop with exit codes and are removed without leftovers; crimux restarts rebuild everything
 * from Docker; stopping dockerd makes the docker backend unhealthy and its calls UNAVAILABLE while a runc pod
 * keeps working, and restarting dockerd recovers without manual steps.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { grpc } from '../helpers/cri-client';
import { dockerdIsOurs, ensureDockerd, pingDockerd, startDockerd, stopDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX } from '../fixtures/images';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { cleanupNetwork, dockerNames, eventually, run as runCmd, writeCniConf } from './env';

const SLOT = 3;
const FRAKTI = 'runtime.frakti.alpha.kubernetes.io/OSContainer';
const CGROUP_PARENT = `/crimux-docker-e2e-${process.pid}`;
let seq = 0;

function podConfig(logRoot: string, name: string, annotations: Record<string, string> = {}) {
  const uid = `e2e-${name}-${process.pid}-${++seq}`;
  return {
    metadata: { name, namespace: 'default', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(logRoot, `default_${name}_${uid}`),
    labels: { app: name },
    annotations,
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  } as const;
}

function ctrConfig(name: string, command: string[]) {
  return { metadata: { name }, image: { image: BUSYBOX.ref }, command, log_path: `${name}/0.log`, labels: { c: name } };
}

describe('docker backend end to end over CRI', { timeout: 420_000 }, () => {
  let daemon: DaemonHandle;
  let tmp: string;
  let logRoot: string;
  const pods: string[] = [];

  before(async () => {
    await ensureDockerd();
    await ensureTestRegistry();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-docker-e2e-'));
    logRoot = path.join(tmp, 'pods');
    daemon = await startDaemon({
      config: {
        // runc stays the default handler: the docker pods below get there by handler or annotation only.
        handlers: { docker: { backend: 'docker', options: { dockerRuntime: 'runc' } } },
        // Annotation routing is denied by default (issue #19); this test's operator allows it for docker.
        routing: { annotationPolicy: [{ namespaces: ['*'], handlers: ['docker'] }] },
        backends: { docker: { enabled: true }, runc: { enabled: true, cgroupParent: CGROUP_PARENT } },
        network: { confDir: await writeCniConf(tmp, SLOT) },
        security: { logRoot },
      },
    });
  });
  after(async () => {
    if (!(await pingDockerd())) await startDockerd().catch(() => undefined);
    for (const id of pods) await daemon?.rt('RemovePodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
    await daemon?.stop().catch(() => daemon?.kill9());
    // Before the daemon's temp dir goes: its netns dir is a (shared) self bind mount.
    if (daemon) await cleanupNetwork(path.join(daemon.runDir, 'netns'), SLOT);
    for (const m of mountsUnder(daemon?.dir ?? tmp)) await runCmd('umount', ['--lazy', m]).catch(() => undefined);
    await daemon?.cleanup();
    await removeCgroupV1(CGROUP_PARENT).catch(() => undefined);
    await fs.rm(tmp, { recursive: true, force: true });
  });

  const run = async (name: string, how: { handler?: string; annotations?: Record<string, string> }) => {
    const config = podConfig(logRoot, name, how.annotations);
    const r = await daemon.rt('RunPodSandbox', { config, runtime_handler: how.handler ?? '' }, { deadlineMs: 120_000 });
    pods.push(r.pod_sandbox_id);
    return { id: r.pod_sandbox_id, config };
  };
  const start = async (pod: { id: string; config: ReturnType<typeof podConfig> }, name: string, command: string[]) => {
    const c = await daemon.rt('CreateContainer', {
      pod_sandbox_id: pod.id,
      config: ctrConfig(name, command),
      sandbox_config: pod.config,
    });
    await daemon.rt('StartContainer', { container_id: c.container_id });
    return c.container_id;
  };
  const containerStatus = async (id: string) => (await daemon.rt('ContainerStatus', { container_id: id })).status!;

  it('routes by handler and by the Frakti annotation into docker, named k8s_POD_…', async () => {
    await daemon.img(
      'PullImage',
      { image: { image: BUSYBOX.ref, runtime_handler: 'docker' } },
      { deadlineMs: 120_000 },
    );
    const byHandler = await run('by-handler', { handler: 'docker' });
    const byAnnotation = await run('by-annotation', { annotations: { [FRAKTI]: 'true' } });
    for (const pod of [byHandler, byAnnotation]) {
      const st = await daemon.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true });
      assert.equal(st.status?.state, 'SANDBOX_READY');
      assert.equal(st.status?.runtime_handler, 'docker');
      assert.match(st.status?.network?.ip ?? '', /^10\.89\.23\.\d+$/);
      const md = pod.config.metadata;
      assert.deepEqual(await dockerNames(`io.crimux.id=${pod.id}`), [`k8s_POD_${md.name}_${md.namespace}_${md.uid}_0`]);
    }
  });

  it('runs, execs, logs in CRI format, stops with exit codes and removes without leftovers', async () => {
    const pod = await run('life', { handler: 'docker' });
    const svc = await start(pod, 'svc', [
      'sh',
      '-c',
      'trap "echo bye; exit 0" TERM; echo ready; while true; do sleep 0.1; done',
    ]);
    const job = await start(pod, 'job', ['sh', '-c', 'echo out; echo err >&2; exit 5']);
    assert.deepEqual(await dockerNames(`io.crimux.id=${svc}`), [`k8s_svc_life_default_${pod.config.metadata.uid}_0`]);

    const ex = await daemon.rt('ExecSync', {
      container_id: svc,
      cmd: ['sh', '-c', 'echo in-pod; exit 2'],
      timeout: 10,
    });
    assert.deepEqual([ex.stdout.toString(), ex.exit_code], ['in-pod\n', 2]);
    await assert.rejects(
      daemon.rt('ExecSync', { container_id: svc, cmd: ['sleep', '60'], timeout: 1 }),
      (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED,
    );

    const jobSt = await eventually(
      async () => {
        const s = await containerStatus(job);
        return s.state === 'CONTAINER_EXITED' && s;
      },
      20_000,
      'job exits',
    );
    assert.deepEqual([jobSt.exit_code, jobSt.reason], [5, 'Error']);
    const jobLog = await eventually(
      async () => {
        const t = await fs.readFile(jobSt.log_path, 'utf8').catch(() => '');
        return t.includes(' stderr F err') && t;
      },
      10_000,
      'job log',
    );
    assert.match(jobLog, /^\S+Z stdout F out\n/m);
    assert.match(jobLog, /^\S+Z stderr F err$/m);

    await daemon.rt('StopContainer', { container_id: svc, timeout: 10 });
    const svcSt = await containerStatus(svc);
    assert.deepEqual([svcSt.state, svcSt.exit_code, svcSt.reason], ['CONTAINER_EXITED', 0, 'Completed']);
    const svcLog = await fs.readFile(svcSt.log_path, 'utf8');
    assert.match(svcLog, / stdout F ready\n.* stdout F bye\n$/s, 'output up to the stop signal handler is in the log');

    await daemon.rt('StopPodSandbox', { pod_sandbox_id: pod.id });
    await daemon.rt('RemovePodSandbox', { pod_sandbox_id: pod.id });
    assert.deepEqual(await dockerNames(`io.crimux.sandbox-id=${pod.id}`), []);
    assert.deepEqual(await dockerNames(`io.crimux.id=${pod.id}`), []);
    await assert.rejects(
      daemon.rt('ContainerStatus', { container_id: svc }),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
    const netns = await fs.readdir(path.join(daemon.runDir, 'netns')).catch(() => [] as string[]);
    assert.ok(!netns.includes(pod.id), 'netns pin removed');
  });

  it('rebuilds pods and containers from Docker after a crimux restart', async () => {
    const pod = await run('survive', { handler: 'docker' });
    const c = await start(pod, 'ticker', ['sh', '-c', 'i=0; while true; do echo t-$i; i=$((i+1)); sleep 0.1; done']);
    await daemon.restart();
    const st = await daemon.rt('PodSandboxStatus', { pod_sandbox_id: pod.id });
    assert.equal(st.status?.state, 'SANDBOX_READY');
    const cs = await containerStatus(c);
    assert.equal(cs.state, 'CONTAINER_RUNNING');
    const before = (await fs.readFile(cs.log_path, 'utf8')).split('\n').length;
    await eventually(
      async () => (await fs.readFile(cs.log_path, 'utf8')).split('\n').length > before + 5,
      15_000,
      'log copying resumed',
    );
    const nums = (await fs.readFile(cs.log_path, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => Number(l.split('t-')[1]));
    assert.deepEqual(
      nums,
      nums.map((_, i) => i),
      'no line lost or repeated across the restart',
    );
  });

  it(
    'reports dockerd down as an unhealthy backend with UNAVAILABLE calls while runc pods keep working, then recovers',
    { skip: !dockerdIsOurs() && 'dockerd was not started by the test helper' },
    async () => {
      await daemon.img('PullImage', { image: { image: BUSYBOX.ref } }, { deadlineMs: 120_000 });
      const pod = await run('outage', { handler: 'docker' });
      const runcPod = await run('runc-side', {});
      assert.equal(
        (await daemon.rt('PodSandboxStatus', { pod_sandbox_id: runcPod.id })).status?.runtime_handler,
        'runc',
      );
      await stopDockerd();
      try {
        const unavailable = (e: grpc.ServiceError): boolean => e.code === grpc.status.UNAVAILABLE;
        await assert.rejects(daemon.rt('PodSandboxStatus', { pod_sandbox_id: pod.id }), unavailable);
        // Status answers from background probes; the failed call above made the monitor re-probe docker at once.
        const s = await daemon.rt('Status', { verbose: true });
        const health = JSON.parse(s.info.backends ?? '{}') as Record<string, { ready: boolean; reason?: string }>;
        assert.equal(health.docker?.ready, false);
        assert.equal(health.docker?.reason, 'DockerDaemonUnavailable');
        const rt = s.status?.conditions.find((c) => c.type === 'RuntimeReady');
        assert.equal(rt?.status, true, 'the node stays ready while runc serves');
        assert.match(rt?.message ?? '', /docker: DockerDaemonUnavailable/);
        await assert.rejects(
          daemon.rt('RunPodSandbox', { config: podConfig(logRoot, 'during'), runtime_handler: 'docker' }),
          unavailable,
        );
        // The runc pod is untouched and still takes new containers.
        assert.equal(
          (await daemon.rt('PodSandboxStatus', { pod_sandbox_id: runcPod.id })).status?.state,
          'SANDBOX_READY',
        );
        const rc = await start(runcPod, 'during', ['sleep', '1000']);
        const ex = await daemon.rt('ExecSync', { container_id: rc, cmd: ['echo', 'runc-ok'], timeout: 10 });
        assert.equal(ex.stdout.toString(), 'runc-ok\n');
      } finally {
        await startDockerd();
      }
      await eventually(
        async () => {
          const s = await daemon.rt('Status', { verbose: true });
          return (JSON.parse(s.info.backends ?? '{}') as Record<string, { ready: boolean }>).docker?.ready;
        },
        30_000,
        'docker backend healthy again',
      );
      // dockerd stopped its containers: the old pod is not ready; a new pod runs without any manual step.
      assert.equal((await daemon.rt('PodSandboxStatus', { pod_sandbox_id: pod.id })).status?.state, 'SANDBOX_NOTREADY');
      const again = await run('after-outage', { handler: 'docker' });
      assert.equal((await daemon.rt('PodSandboxStatus', { pod_sandbox_id: again.id })).status?.state, 'SANDBOX_READY');
      const c = await start(again, 'hello', ['sh', '-c', 'echo back']);
      await eventually(
        async () => (await containerStatus(c)).state === 'CONTAINER_EXITED',
        20_000,
        'container runs after the outage',
      );
    },
  );
});

/** Mount points below a directory (overlay roots, netns pins) that a failed test could leave behind. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(dir + '/'))
    .reverse();
}
