/**
 * Soak: create and remove hundreds of pods (every tenth with a running container) on the runc backend with
 * parallel clients, bounded in time, then check the daemon's file descriptors, memory and ownership records are
 * back where they started. Figures go to bench/results/soak.json.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX } from '../fixtures/images';
import { SqliteOwnershipStore } from '../../src/state/sqlite-store';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import * as e from '../runc/env';

const SLOT = 12;
const PODS = Number(process.env.CRIMUX_SOAK_PODS ?? 300);
const BUDGET_MS = Number(process.env.CRIMUX_SOAK_BUDGET_S ?? 240) * 1000;
const cgroupParent = `/crimux-soak-${process.pid}`;
let d: DaemonHandle;
let dir: string;

before(async () => {
  await ensureTestRegistry();
  dir = await e.tempDir('crimux-soak-');
  d = await startDaemon({
    config: {
      handlers: { runc: { backend: 'runc', options: { runtimeRoot: path.join(dir, 'runc-root') } } },
      backends: { runc: { enabled: true, cgroupParent } },
      network: { confDir: await e.writeCniConf(dir, SLOT) },
      logLevel: 'warn',
    },
  });
  await d.img('PullImage', { image: { image: BUSYBOX.ref } }, { deadlineMs: 120_000 });
});

after(async () => {
  if (!d) return;
  await d.stop().catch(() => d.kill9());
  await e.cleanupNetwork(path.join(d.runDir, 'netns'), SLOT);
  for (const p of e.mountsMentioning(d.dir)) await e.run('umount', ['--lazy', p]).catch(() => undefined);
  await d.cleanup();
  await removeCgroupV1(cgroupParent).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

const fds = (pid: number): number => fs.readdirSync(`/proc/${pid}/fd`).length;
const rssMiB = (pid: number): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function onePod(i: number): Promise<void> {
  const uid = `soak-${process.pid}-${i}`;
  const config = {
    metadata: { name: `soak-${i}`, namespace: 'soak', uid, attempt: 0 },
    hostname: `soak-${i}`,
    log_directory: path.join(dir, 'logs', uid),
  };
  const pod = (await d.rt('RunPodSandbox', { config }, { deadlineMs: 120_000 })).pod_sandbox_id;
  if (i % 10 === 0) {
    const cfg = {
      metadata: { name: 'app' },
      image: { image: BUSYBOX.ref },
      command: ['sleep', '3600'],
      log_path: 'app.log',
    };
    const ctr = (
      await d.rt(
        'CreateContainer',
        { pod_sandbox_id: pod, config: cfg, sandbox_config: config },
        { deadlineMs: 120_000 },
      )
    ).container_id;
    await d.rt('StartContainer', { container_id: ctr }, { deadlineMs: 60_000 });
  }
  await d.rt('StopPodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 60_000 });
  await d.rt('RemovePodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 60_000 });
}

test(`soak: up to ${PODS} pods created and removed; fds, memory and records stable`, async () => {
  for (let i = 0; i < 10; i++) await onePod(-1 - i); // warm-up: lazily opened files, JIT
  const pid = d.pid();
  const fd0 = fds(pid);
  const rss0 = rssMiB(pid);
  const started = Date.now();
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < PODS && Date.now() - started < BUDGET_MS) {
        await onePod(next++);
        done++;
      }
    }),
  );
  const secs = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 3000)); // background cleanup of the last removals
  const fd1 = fds(pid);
  const rss1 = rssMiB(pid);
  const store = new SqliteOwnershipStore({ dir: d.stateDir, readonly: true });
  const records = store.listSandboxes().length + store.listContainers().length;
  store.close();
  const results = {
    pods: done,
    seconds: Math.round(secs),
    podsPerSecond: +(done / secs).toFixed(2),
    fdBefore: fd0,
    fdAfter: fd1,
    rssBeforeMiB: +rss0.toFixed(1),
    rssAfterMiB: +rss1.toFixed(1),
    recordsLeft: records,
  };
  fs.mkdirSync(path.resolve(__dirname, '../../bench/results'), { recursive: true });
  fs.writeFileSync(path.resolve(__dirname, '../../bench/results/soak.json'), JSON.stringify(results, null, 2) + '\n');
  assert.ok(done >= Math.min(PODS, 50), `at least 50 pods in the time budget (${done})`);
  assert.equal(records, 0, 'no ownership record left');
  assert.ok(fd1 - fd0 <= 10, `file descriptors stable (${fd0} → ${fd1})`);
  assert.ok(rss1 - rss0 < 100, `memory stable (${results.rssBeforeMiB} → ${results.rssAfterMiB} MiB)`);
});
