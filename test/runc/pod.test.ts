/**
 * Pod-level features of the runc backend over crimux's CRI socket: DNS config and hostname, sysctls, a port
 * mapping through CNI portmap, the pod's shared /dev/shm and IPC, a pod-shared PID namespace, bind volumes
 * (read-only and read-write), a privileged container, UpdateContainerResources and stats over CRI.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX } from '../fixtures/images';
import { ensureTestRegistry } from '../helpers/registry';
import { exec, runPod, startContainer, startRuncDaemon, type Pod, type RuncDaemon } from './cri';
import * as e from './env';

const SLOT = 3;
const KEEP = ['sleep', '1000'];
const HOST_PORT = 18093;

function fetchTcp(host: string, port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let data = '';
    const timer = setTimeout(() => sock.destroy(new Error(`connect ${host}:${port}: timed out`)), 5000);
    sock.on('connect', () => sock.end(send));
    sock.on('data', (b) => (data += b.toString()));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

describe('runc pod features', { timeout: 600_000 }, () => {
  let r: RuncDaemon;
  let pod: Pod;
  const out = async (id: string, script: string) =>
    (await exec(r.daemon, id, ['sh', '-c', script])).stdout.toString().trim();

  before(async () => {
    await ensureTestRegistry();
    r = await startRuncDaemon(SLOT);
    await r.daemon.img(
      'PullImage',
      { image: { image: BUSYBOX.ref, runtime_handler: 'runc' } },
      { deadlineMs: 120_000 },
    );
    pod = await runPod(r.daemon, r.logRoot, 'features', '', {
      hostname: 'feat-host',
      dns_config: {
        servers: ['10.0.0.10'],
        searches: ['default.svc.cluster.local', 'svc.cluster.local'],
        options: ['ndots:5'],
      },
      port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: HOST_PORT }],
      linux: {
        sysctls: { 'net.ipv4.ping_group_range': '0 2147483647', 'kernel.shm_rmid_forced': '1' },
        security_context: { namespace_options: { pid: 'POD' } },
      },
    });
  });

  after(async () => {
    if (pod)
      await r?.daemon.rt('RemovePodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 }).catch(() => undefined);
    await r?.cleanup();
  });

  it('writes resolv.conf from the DNS config and sets the hostname', async () => {
    const id = await startContainer(r.daemon, pod, 'dns', KEEP);
    assert.equal(
      await out(id, 'cat /etc/resolv.conf'),
      'search default.svc.cluster.local svc.cluster.local\nnameserver 10.0.0.10\noptions ndots:5',
    );
    assert.equal(await out(id, 'hostname'), 'feat-host');
    assert.match(await out(id, 'cat /etc/hosts'), /feat-host/);
  });

  it('applies namespaced sysctls to the pod', async () => {
    const id = await startContainer(r.daemon, pod, 'sysctl', KEEP);
    assert.equal(await out(id, 'cat /proc/sys/net/ipv4/ping_group_range'), '0\t2147483647');
    assert.equal(await out(id, 'cat /proc/sys/kernel/shm_rmid_forced'), '1');
  });

  it('maps a host port to the pod through CNI portmap', async () => {
    await startContainer(r.daemon, pod, 'web', [
      'sh',
      '-c',
      'mkdir -p /www && echo mapped > /www/index.html && exec httpd -f -p 8080 -h /www',
    ]);
    const gateway = e.netSlot(SLOT).subnet.replace(/0\/24$/, '1');
    const body = await e.waitFor(
      'port mapping',
      async () => {
        const text = await fetchTcp(gateway, HOST_PORT, 'GET / HTTP/1.0\r\n\r\n').catch(() => '');
        return text.includes('mapped') ? text : undefined;
      },
      20_000,
    );
    assert.match(body, /200 OK/);
  });

  it('shares /dev/shm, IPC and (pid: POD) the PID namespace between containers', async () => {
    const a = await startContainer(r.daemon, pod, 'shm-a', KEEP, {
      linux: { security_context: { namespace_options: { pid: 'POD' } } },
    });
    const b = await startContainer(r.daemon, pod, 'shm-b', KEEP, {
      linux: { security_context: { namespace_options: { pid: 'POD' } } },
    });
    await out(a, 'echo shared > /dev/shm/x');
    assert.equal(await out(b, 'cat /dev/shm/x'), 'shared');
    assert.equal(await out(a, 'readlink /proc/self/ns/ipc'), await out(b, 'readlink /proc/self/ns/ipc'));
    // In the pod's PID namespace the pause process is PID 1 and the other container's sleep is visible.
    assert.match(await out(a, 'cat /proc/1/cmdline'), /pause/);
    assert.ok(Number(await out(a, 'ps -o comm | grep -c sleep')) >= 2);
  });

  it('mounts bind volumes read-only and read-write', async () => {
    const vol = path.join(r.dir, 'vol');
    await fs.mkdir(vol, { recursive: true });
    await fs.writeFile(path.join(vol, 'in'), 'from-host\n');
    const id = await startContainer(r.daemon, pod, 'vol', KEEP, {
      mounts: [
        { container_path: '/ro', host_path: vol, readonly: true },
        { container_path: '/rw', host_path: vol, readonly: false },
      ],
    });
    assert.equal(await out(id, 'cat /ro/in'), 'from-host');
    assert.notEqual((await exec(r.daemon, id, ['sh', '-c', 'echo x > /ro/new'])).exit_code, 0);
    await out(id, 'echo from-container > /rw/out');
    assert.equal(await fs.readFile(path.join(vol, 'out'), 'utf8'), 'from-container\n');
    const st = await r.daemon.rt('ContainerStatus', { container_id: id });
    assert.deepEqual(
      st.status?.mounts?.map((m) => [m.container_path, m.readonly]),
      [
        ['/ro', true],
        ['/rw', false],
      ],
    );
  });

  it('runs a privileged container in a privileged pod with every capability and the host devices', async () => {
    const priv = await runPod(r.daemon, r.logRoot, 'priv', '', { linux: { security_context: { privileged: true } } });
    try {
      const id = await startContainer(r.daemon, priv, 'priv', KEEP, {
        linux: { security_context: { privileged: true } },
      });
      const capEff = BigInt('0x' + (await out(id, "grep CapEff /proc/self/status | awk '{print $2}'")));
      assert.ok(capEff >= 0x1ffffffffn, `CapEff ${capEff.toString(16)}`);
      assert.equal(await out(id, 'test -c /dev/kmsg && echo yes'), 'yes');
    } finally {
      await r.daemon.rt('RemovePodSandbox', { pod_sandbox_id: priv.id });
    }
  });

  it('updates resources and reports stats over CRI', async () => {
    const id = await startContainer(r.daemon, pod, 'res', KEEP);
    await r.daemon.rt('UpdateContainerResources', {
      container_id: id,
      linux: { cpu_quota: 50_000, cpu_period: 100_000, memory_limit_in_bytes: 128 * 1024 * 1024 },
    });
    const st = await r.daemon.rt('ContainerStatus', { container_id: id });
    assert.equal(String(st.status?.resources?.linux?.memory_limit_in_bytes), String(128 * 1024 * 1024));
    assert.equal(await out(id, 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes'), String(128 * 1024 * 1024));
    const stats = await r.daemon.rt('ContainerStats', { container_id: id });
    assert.ok(BigInt(String(stats.stats?.memory?.working_set_bytes?.value ?? 0)) > 0n);
    const podStats = await r.daemon.rt('PodSandboxStats', { pod_sandbox_id: pod.id });
    assert.ok((podStats.stats?.linux?.containers ?? []).length >= 1);
  });
});
