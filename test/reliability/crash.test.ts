/**
 * Crash consistency: SIGKILL the daemon at every failpoint of the pod/container lifecycle (src/failpoints.ts),
 * restart it, and check what the kubelet would rely on: the interrupted call's retry succeeds, no container is
 * lost (a started container is still running after the restart), and once the pod is removed nothing is left on
 * the host (process, mount, netns, cgroup, runtime state, record). Figures go to bench/results/crash.json.
 * Runs on the runc backend: one daemon for the whole file, restarted around each failpoint.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { FAILPOINTS, type Failpoint } from '../../src/failpoints';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX } from '../fixtures/images';
import { SqliteOwnershipStore } from '../../src/state/sqlite-store';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import * as e from '../runc/env';

const SLOT = 7;
let d: DaemonHandle;
let dir: string;
let logRoot: string;
const cgroupParent = `/crimux-crash-${process.pid}`;
const figures = { pointsKilled: 0, retriesSucceeded: 0, containersLost: 0, leaksFound: 0, leaks: [] as string[] };

before(async () => {
  await ensureTestRegistry();
  dir = await e.tempDir('crimux-crash-');
  logRoot = path.join(dir, 'pods');
  d = await startDaemon({
    config: {
      handlers: { runc: { backend: 'runc', options: { runtimeRoot: path.join(dir, 'runc-root') } } },
      backends: { runc: { enabled: true, cgroupParent } },
      network: { confDir: await e.writeCniConf(dir, SLOT) },
      security: { logRoot },
      logLevel: 'info',
    },
  });
  await d.img('PullImage', { image: { image: BUSYBOX.ref } }, { deadlineMs: 120_000 });
});

after(async () => {
  fs.mkdirSync(path.resolve(__dirname, '../../bench/results'), { recursive: true });
  // The random mode's figures (bench/crash.ts) share the file: kept.
  const file = path.resolve(__dirname, '../../bench/results/crash.json');
  const random = fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { random?: unknown }).random
    : undefined;
  fs.writeFileSync(file, JSON.stringify({ ...figures, random }, null, 2) + '\n');
  if (!d) return;
  await d.stop().catch(() => d.kill9());
  await e.cleanupNetwork(path.join(d.runDir, 'netns'), SLOT);
  for (const p of e.mountsMentioning(d.dir)) await e.run('umount', ['--lazy', p]).catch(() => undefined);
  await d.cleanup();
  await removeCgroupV1(cgroupParent).catch(() => undefined);
});

type Step = 'run' | 'create' | 'start' | 'stopC' | 'removeC' | 'stopP' | 'removeP';
const STEPS: Step[] = ['run', 'create', 'start', 'stopC', 'removeC', 'stopP', 'removeP'];
const STEP_OF: Record<string, Step> = {
  'sandbox.run': 'run',
  'container.create': 'create',
  'container.start': 'start',
  'container.stop': 'stopC',
  'container.remove': 'removeC',
  'sandbox.stop': 'stopP',
  'sandbox.remove': 'removeP',
};

/** Drives one pod's whole lifecycle; `calls` are retried as the kubelet would when the daemon is gone. */
async function lifecycle(name: string, killAt: Step | undefined): Promise<void> {
  const uid = `crash-${name}-${process.pid}`;
  const config = {
    metadata: { name, namespace: 'crash', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(logRoot, `crash_${name}_${uid}`),
  };
  let pod = '';
  let ctr = '';
  const calls: Record<Step, () => Promise<void>> = {
    run: async () => {
      pod = (await d.rt('RunPodSandbox', { config }, { deadlineMs: 120_000 })).pod_sandbox_id;
    },
    create: async () => {
      const cfg = {
        metadata: { name: 'app' },
        image: { image: BUSYBOX.ref },
        command: ['sh', '-c', 'echo up; sleep 3600'],
        log_path: 'app/0.log',
      };
      ctr = (
        await d.rt(
          'CreateContainer',
          { pod_sandbox_id: pod, config: cfg, sandbox_config: config },
          { deadlineMs: 120_000 },
        )
      ).container_id;
    },
    start: async () => {
      await d.rt('StartContainer', { container_id: ctr }, { deadlineMs: 60_000 });
    },
    stopC: async () => {
      await d.rt('StopContainer', { container_id: ctr, timeout: 2 }, { deadlineMs: 60_000 });
    },
    removeC: async () => {
      await d.rt('RemoveContainer', { container_id: ctr }, { deadlineMs: 60_000 });
    },
    stopP: async () => {
      await d.rt('StopPodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 60_000 });
    },
    removeP: async () => {
      await d.rt('RemovePodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 60_000 });
    },
  };
  for (const step of STEPS) {
    try {
      await calls[step]();
      if (step === killAt) assert.fail(`the daemon should have died during ${step}`);
    } catch (err) {
      if (step !== killAt) throw err;
      const code = await Promise.race([d.exited(), new Promise((r) => setTimeout(() => r('alive'), 15_000))]);
      assert.notEqual(code, 'alive', 'the failpoint killed the daemon');
      figures.pointsKilled++;
      await d.restart({});
      // A container started before the kill must have survived it: the daemon going away never stops containers.
      if (step === 'stopC' && (await status(ctr)) === 'MISSING') figures.containersLost++;
      // The kubelet relists, then retries the call whose answer it never got: a lost create with the same name
      // and attempt (reconcile rolled the half-made one back); a start only if the container is not running yet
      // (it never re-starts a running container; containerd and CRI-O refuse that too); stop/remove blindly.
      if (step === 'start' && (await status(ctr)) === 'CONTAINER_RUNNING') {
        figures.retriesSucceeded++;
      } else {
        await calls[step]();
        figures.retriesSucceeded++;
      }
      if (step === 'start' && (await status(ctr)) !== 'CONTAINER_RUNNING') figures.containersLost++;
      if (step === 'start' || step === 'create') {
        const st = await status(ctr);
        if (step === 'start' && st !== 'CONTAINER_RUNNING') figures.containersLost++;
        if (step === 'create' && st !== 'CONTAINER_CREATED') figures.containersLost++;
      }
    }
  }
}

async function status(id: string): Promise<string> {
  try {
    return String((await d.rt('ContainerStatus', { container_id: id })).status?.state);
  } catch {
    return 'MISSING';
  }
}

/**
 * What is left on the host once background cleanup had its chance: the runc backend answers RemovePodSandbox
 * first and finishes host cleanup right after (from its trash dir, crash-safe), so leaks are polled, bounded.
 */
async function settledLeaks(timeoutMs = 30_000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  let found = leaks();
  while (found.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    found = leaks();
  }
  return found;
}

function leaks(): string[] {
  const found: string[] = [];
  const store = new SqliteOwnershipStore({ dir: d.stateDir, readonly: true });
  try {
    for (const s of store.listSandboxes()) found.push(`record sandbox ${s.id}`);
    for (const c of store.listContainers()) found.push(`record container ${c.id}`);
  } finally {
    store.close();
  }
  for (const m of e.mountsMentioning(path.join(d.stateDir, 'images', 'snapshots'))) found.push(`mount ${m}`);
  const netns = path.join(d.runDir, 'netns');
  for (const f of fs.existsSync(netns) ? fs.readdirSync(netns) : []) found.push(`netns ${f}`);
  const root = path.join(dir, 'runc-root');
  for (const f of fs.existsSync(root) ? fs.readdirSync(root) : []) found.push(`runc state ${f}`);
  for (const pid of e.processesMentioning(d.stateDir)) found.push(`process ${pid}`);
  for (const cg of e.cgroupsMentioning(cgroupParent, '')) found.push(`cgroup ${cg}`);
  return found;
}

test('baseline lifecycle leaves nothing behind', async () => {
  await lifecycle('baseline', undefined);
  assert.deepEqual(await settledLeaks(), []);
});

/** Removes every pod through CRI, so one failed case cannot leak into the next one's leak check. */
async function removeAllPods(): Promise<void> {
  for (const p of (await d.rt('ListPodSandbox', {})).items ?? []) {
    await d.rt('StopPodSandbox', { pod_sandbox_id: p.id ?? '' }, { deadlineMs: 60_000 });
    await d.rt('RemovePodSandbox', { pod_sandbox_id: p.id ?? '' }, { deadlineMs: 60_000 });
  }
}

for (const fp of FAILPOINTS) {
  test(`SIGKILL at ${fp}: restart, retry succeeds, nothing lost, nothing leaked`, async (t) => {
    t.after(removeAllPods);
    const step = STEP_OF[fp.split('.').slice(0, 2).join('.')] as Step;
    await d.restart({ CRIMUX_FAILPOINTS: fp satisfies Failpoint });
    await lifecycle(fp.replace(/[.]/g, '-'), step);
    await d.restart({});
    const found = await settledLeaks();
    figures.leaksFound += found.length;
    figures.leaks.push(...found.map((f) => `${fp}: ${f}`));
    assert.deepEqual(found, []);
    assert.equal(figures.containersLost, 0);
  });
}
