/**
 * The docker backend against a real dockerd, driven directly (createDockerBackend with hand-built deps): pods on
 * the CNI network and on the host network, containers that run, log in CRI format, exec, stop with exit codes,
 * and leave nothing behind (Docker containers, pinned netns, IPAM reservations).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createDockerBackend } from '../../src/backends/docker';
import type { Backend } from '../../src/backends/backend';
import { isNetnsMount } from '../../src/network';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX, HTTP } from '../fixtures/images';
import {
  containerConfig,
  ctx,
  deps,
  dockerNames,
  eventually,
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
const SLOT = 1;

function fetchTcp(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect ${host}:${port}: timed out`));
    }, timeoutMs);
    sock.on('connect', () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    sock.on('data', (b) => (data += b.toString()));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

describe('docker backend on a real dockerd', { timeout: 300_000 }, () => {
  let env: TestEnv;
  let backend: Backend;
  const pods: string[] = [];

  before(async () => {
    await ensureDockerd();
    const { port } = await ensureTestRegistry();
    env = await makeEnv(port, SLOT);
    backend = createDockerBackend(deps(env, log));
    await backend.start(ctx(log));
    await backend.images.pull(ctx(log), { image: BUSYBOX.ref });
    await backend.images.pull(ctx(log), { image: HTTP.ref });
  });
  after(async () => {
    for (const id of pods) await backend?.removePodSandbox(ctx(log), id).catch(() => undefined);
    await backend?.close();
    await env?.cleanup();
  });

  const runPod = async (name: string, o: Parameters<typeof sandboxConfig>[2] = {}) => {
    const id = newId();
    const config = sandboxConfig(env, name, o);
    pods.push(id);
    await backend.runPodSandbox(ctx(log), { id, handler: handlerSpec(env.config), config });
    return { id, config };
  };
  const runContainer = async (
    pod: { id: string; config: ReturnType<typeof sandboxConfig> },
    name: string,
    image: string,
    o = {},
  ) => {
    const id = newId();
    await backend.createContainer(
      ctx(log),
      withLogPath({
        id,
        sandboxId: pod.id,
        config: containerConfig(name, image, o),
        sandboxConfig: pod.config,
      }),
    );
    await backend.startContainer(ctx(log), id);
    return id;
  };

  it('lists pulled images under their requested names', async () => {
    const images = await backend.images.list(ctx(log));
    const busybox = images.find((i) => i.repo_tags?.includes(BUSYBOX.ref));
    assert.ok(busybox, 'busybox listed as docker.io/library/busybox:1.36');
    assert.ok(
      busybox.repo_digests?.every((d) => d.startsWith('docker.io/library/busybox@sha256:')),
      String(busybox.repo_digests),
    );
    assert.ok(!images.some((i) => i.repo_tags?.some((t) => t.startsWith('127.0.0.1:'))), 'endpoint tags are hidden');
    const fs1 = await backend.images.fsInfo(ctx(log));
    assert.ok(Number(fs1.imageFilesystems[0]?.used_bytes?.value) > 0);
  });

  it('runs a CNI pod whose containers serve, log in CRI format, exec and stop with exit codes', async () => {
    const pod = await runPod('web', {
      ports: [{ protocol: 'TCP', container_port: HTTP.port, host_port: 18190 + SLOT, host_ip: '' }],
    });
    const names = await dockerNames(`io.crimux.sandbox-id=${pod.id}`).then(async (c) => [
      ...c,
      ...(await dockerNames(`io.crimux.id=${pod.id}`)),
    ]);
    assert.deepEqual(names, [`k8s_POD_web_default_${pod.config.metadata?.uid}_0`]);
    const st = await backend.podSandboxStatus(ctx(log), pod.id, true);
    assert.equal(sandboxStatus(st.facts).state, 'SANDBOX_READY');
    const ip = sandboxStatus(st.facts).network?.ip ?? '';
    assert.match(ip, /^10\.89\.21\.\d+$/);
    const netns = path.join(env.netnsDir, pod.id);
    assert.ok(await isNetnsMount(netns), 'netns pinned');

    const web = await runContainer(pod, 'http', HTTP.ref);
    const body = await eventually(
      async () => (await fetchTcp(ip, HTTP.port)).includes(HTTP.bodyPrefix) && fetchTcp(ip, HTTP.port),
      20_000,
      'pod answers',
    );
    assert.ok(body.includes(HTTP.body('web')), `hostname shared with the pause container: ${body}`);
    const gateway = ip.replace(/\.\d+$/, '.1');
    assert.ok((await fetchTcp(gateway, 18190 + SLOT)).includes(HTTP.bodyPrefix), 'port mapping via CNI portmap');
    assert.equal(
      containerStatus((await backend.containerStatus(ctx(log), web, false)).facts).state,
      'CONTAINER_RUNNING',
    );

    // Output in CRI format: both streams, a long line split into a partial and a full chunk.
    const script =
      'echo out-1; echo err-1 >&2; head -c 20000 /dev/zero | tr "\\0" a; echo; cat /etc/resolv.conf; exit 3';
    const worker = await runContainer(pod, 'worker', BUSYBOX.ref, { command: ['sh', '-c', script] });
    const done = await eventually(
      async () => {
        const s = containerStatus((await backend.containerStatus(ctx(log), worker, false)).facts);
        return s.state === 'CONTAINER_EXITED' && s;
      },
      20_000,
      'worker exits',
    );
    assert.deepEqual([done.exit_code, done.reason], [3, 'Error']);
    const logPath = done.log_path ?? '';
    assert.equal(logPath, path.join(pod.config.log_directory, 'worker/0.log'));
    const lines = await eventually(
      async () => {
        const text = await fs.readFile(logPath, 'utf8');
        return text.includes('nameserver 10.96.0.10') && text.split('\n').filter(Boolean);
      },
      10_000,
      'log copied',
    );
    for (const l of lines) assert.match(l, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z (stdout|stderr) [PF] /);
    assert.ok(lines.some((l) => / stdout F out-1$/.test(l)));
    assert.ok(lines.some((l) => / stderr F err-1$/.test(l)));
    const long = lines.filter((l) => /^\S+ stdout [PF] a+$/.test(l));
    assert.equal(long.map((l) => l.split(' ')[2]).join(''), 'PF', 'a 20000-byte line is a partial then a full chunk');
    assert.equal(long.map((l) => l.split(' ')[3]).join('').length, 20000);
    assert.ok(
      lines.some((l) => l.endsWith('search default.svc.cluster.local')),
      'DNS config from the sandbox',
    );

    // ExecSync: exit code and both streams; a timeout kills the process.
    const stubborn = await runContainer(pod, 'stubborn', BUSYBOX.ref, { command: ['sleep', '1000'] });
    const ex = await backend.execSync(ctx(log), stubborn, ['sh', '-c', 'echo hi; echo ho >&2; exit 4'], 10);
    assert.deepEqual([ex.stdout.toString(), ex.stderr.toString(), ex.exitCode], ['hi\n', 'ho\n', 4]);
    const t0 = Date.now();
    await assert.rejects(backend.execSync(ctx(log), stubborn, ['sleep', '31337'], 1), {
      name: 'DeadlineExceededError',
    });
    assert.ok(Date.now() - t0 < 15_000);
    await eventually(async () => !(await hostHasProcess('sleep\u000031337')), 10_000, 'timed-out exec killed');

    // Stop: SIGTERM handled → 0/Completed; ignored SIGTERM (PID 1 without a handler) → SIGKILL after the timeout.
    const polite = await runContainer(pod, 'polite', BUSYBOX.ref, {
      command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'],
    });
    await backend.stopContainer(ctx(log), polite, 10);
    await backend.stopContainer(ctx(log), stubborn, 1);
    const p = containerStatus((await backend.containerStatus(ctx(log), polite, false)).facts);
    const s = containerStatus((await backend.containerStatus(ctx(log), stubborn, false)).facts);
    assert.deepEqual([p.state, p.exit_code, p.reason], ['CONTAINER_EXITED', 0, 'Completed']);
    assert.deepEqual([s.state, s.exit_code, s.reason], ['CONTAINER_EXITED', 137, 'Error']);
    await backend.stopContainer(ctx(log), stubborn, 1);

    const usage = await backend.containerUsage(ctx(log), web);
    assert.ok(Number(usage.memory?.workingSetBytes) > 0);
    assert.ok(Number(usage.cpuNs) > 0);
    const podUsage = await backend.podSandboxUsage(ctx(log), pod.id);
    const eth0 = podUsage.interfaces?.find((i) => i.name === 'eth0');
    assert.ok(eth0, 'the pod interface is reported');
    assert.ok(Number(eth0.rxBytes) > 0, 'pod traffic counted');
    assert.ok(podUsage.containers.length >= 1);
    assert.ok((await backend.listPodSandboxUsage(ctx(log))).some((p) => p.id === pod.id));

    // Stop and remove the pod: nothing left in Docker, the netns unpinned, the IP released.
    await backend.stopPodSandbox(ctx(log), pod.id);
    assert.equal(
      sandboxStatus((await backend.podSandboxStatus(ctx(log), pod.id, false)).facts).state,
      'SANDBOX_NOTREADY',
    );
    assert.equal(
      containerStatus((await backend.containerStatus(ctx(log), web, false)).facts).state,
      'CONTAINER_EXITED',
    );
    assert.equal(await isNetnsMount(netns), false);
    await backend.removePodSandbox(ctx(log), pod.id);
    assert.deepEqual(await dockerNames(`io.crimux.sandbox-id=${pod.id}`), []);
    assert.deepEqual(await dockerNames(`io.crimux.id=${pod.id}`), []);
    const ipam = await fs.readdir(path.join(env.dir, 'ipam', 'crimux-docker-test')).catch(() => [] as string[]);
    assert.ok(!ipam.includes(ip), `IP ${ip} released`);
    await assert.rejects(backend.podSandboxStatus(ctx(log), pod.id, false), { name: 'NotFoundError' });
  });

  it('runs a host-network pod with the host name', async () => {
    const pod = await runPod('hostnet', { hostNetwork: true });
    const c = await runContainer(pod, 'sh', BUSYBOX.ref, { command: ['sleep', '1000'] });
    const r = await backend.execSync(ctx(log), c, ['hostname'], 10);
    assert.equal(r.stdout.toString().trim(), os.hostname());
    const st = await backend.podSandboxStatus(ctx(log), pod.id, false);
    assert.equal(sandboxStatus(st.facts).linux?.namespaces?.options?.network, 'NODE');
    assert.equal(sandboxStatus(st.facts).network?.ip, '');
    await backend.removePodSandbox(ctx(log), pod.id);
    assert.deepEqual(await dockerNames(`io.crimux.sandbox-id=${pod.id}`), []);
  });

  it('refuses ReopenContainerLog for a container that is not running', async () => {
    const pod = await runPod('reopen-stopped', { hostNetwork: true });
    const c = await runContainer(pod, 'quick', BUSYBOX.ref, { command: ['true'] });
    await eventually(
      async () =>
        containerStatus((await backend.containerStatus(ctx(log), c, false)).facts).state === 'CONTAINER_EXITED',
      10_000,
      'exit',
    );
    await assert.rejects(backend.reopenContainerLog(ctx(log), c), { name: 'FailedPreconditionError' });
    await backend.removePodSandbox(ctx(log), pod.id);
  });
});

async function hostHasProcess(cmdline: string): Promise<boolean> {
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith(cmdline)) return true;
  }
  return false;
}
