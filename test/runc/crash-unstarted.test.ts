/**
 * A container created but never started when the daemon was killed (kill -9) must not stall the kubelet's
 * cleanup: StopPodSandbox answers within seconds and still runs CNI DEL, RemovePodSandbox leaves no pod cgroup,
 * and StopContainer with timeout 0 on a created container returns at once. Also: with only runDir configured, pod
 * network namespaces live under it (two daemons never share a netns dir). Real runc through the daemon.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX } from '../fixtures/images';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import * as e from './env';

const SLOT = 14;
let d: DaemonHandle;
let dir: string;
const cgroupParent = `/crimux-unstarted-${process.pid}`;

before(async () => {
  await ensureTestRegistry();
  dir = await e.tempDir('crimux-unstarted-');
  // network.netnsDir is left out on purpose: it must follow runDir (test (c)).
  d = await startDaemon({
    config: {
      handlers: { runc: { backend: 'runc', options: { runtimeRoot: path.join(dir, 'runc-root') } } },
      backends: { runc: { enabled: true, cgroupParent } },
      network: { confDir: await e.writeCniConf(dir, SLOT) },
      logLevel: 'info',
    },
  });
  delete (d.config.network as Record<string, unknown>).netnsDir;
  fs.writeFileSync(d.configPath, JSON.stringify(d.config, null, 2));
  await d.restart({});
  await d.img('PullImage', { image: { image: BUSYBOX.ref } }, { deadlineMs: 120_000 });
});

after(async () => {
  if (!d) return;
  await d.stop().catch(() => d.kill9());
  await e.cleanupNetwork(path.join(d.runDir, 'netns'), SLOT);
  for (const p of e.mountsMentioning(d.dir)) await e.run('umount', ['--lazy', p]).catch(() => undefined);
  await d.cleanup();
  await removeCgroupV1(cgroupParent).catch(() => undefined);
  await fs.promises.rm(dir, { recursive: true, force: true });
});

async function podWithCreatedContainer(name: string): Promise<{ pod: string; ctr: string }> {
  const uid = `unstarted-${name}-${process.pid}`;
  const config = {
    metadata: { name, namespace: 'unstarted', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(dir, 'pods', uid),
  };
  const pod = (await d.rt('RunPodSandbox', { config }, { deadlineMs: 120_000 })).pod_sandbox_id;
  const cfg = {
    metadata: { name: 'app' },
    image: { image: BUSYBOX.ref },
    command: ['sleep', '3600'],
    log_path: 'app/0.log',
  };
  const ctr = (
    await d.rt('CreateContainer', { pod_sandbox_id: pod, config: cfg, sandbox_config: config }, { deadlineMs: 120_000 })
  ).container_id;
  return { pod, ctr };
}

function ipAllocations(): string[] {
  const ipam = path.join(dir, 'ipam', e.netSlot(SLOT).network);
  return fs.existsSync(ipam) ? fs.readdirSync(ipam).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await fn();
  return Date.now() - t0;
}

test('(c) with only runDir set, pod network namespaces live under <runDir>/netns', async () => {
  const { pod } = await podWithCreatedContainer('netns');
  assert.ok(fs.existsSync(path.join(d.runDir, 'netns', pod)), 'netns of the pod under <runDir>/netns');
  await d.rt('StopPodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 20_000 });
  await d.rt('RemovePodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 20_000 });
});

test('(b) StopContainer with timeout 0 on a created container returns at once', async () => {
  const { pod, ctr } = await podWithCreatedContainer('stop0');
  await new Promise((r) => setTimeout(r, 1000)); // let the background launch (runc create) finish
  const ms = await timed(() => d.rt('StopContainer', { container_id: ctr, timeout: 0 }, { deadlineMs: 20_000 }));
  assert.ok(ms < 3000, `StopContainer took ${ms} ms`);
  await d.rt('StopPodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 20_000 });
  await d.rt('RemovePodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 20_000 });
});

test('(a) after kill -9 with a created container, StopPodSandbox is quick, runs CNI DEL, and removal leaks no cgroup', async () => {
  const { pod } = await podWithCreatedContainer('crash');
  await new Promise((r) => setTimeout(r, 1000)); // the launch (conmon + runc create) is done: the container is "created"
  const ip = (await d.rt('PodSandboxStatus', { pod_sandbox_id: pod })).status?.network?.ip ?? '';
  assert.ok(ipAllocations().includes(ip), `the pod holds its IP ${ip}`);
  await d.kill9();
  await d.restart({});
  const ms = await timed(() => d.rt('StopPodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 20_000 }));
  assert.ok(ms < 5000, `StopPodSandbox took ${ms} ms`);
  assert.ok(!ipAllocations().includes(ip), 'CNI DEL released the IP');
  assert.ok(!fs.existsSync(path.join(d.runDir, 'netns', pod)), 'netns removed');
  await d.rt('RemovePodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 20_000 });
  const cgroups = await e
    .waitFor(
      'pod cgroup gone',
      async () => {
        const left = e.cgroupsMentioning(cgroupParent, pod);
        return left.length === 0 ? left : undefined;
      },
      15_000,
    )
    .catch(() => e.cgroupsMentioning(cgroupParent, pod));
  assert.deepEqual(cgroups, []);
});
