/**
 * Benchmark: the vm backend over crimux's CRI socket (real qemu; TCG on this host). Measures
 *   - RunPodSandbox to READY: cold boot (handler vm-cold, template off) and template clone (handler vm)
 *   - container start: CreateContainer + StartContainer in a running pod VM
 *   - host memory per idle VM pod: PSS of each qemu process and the MemAvailable drop over K idle pods
 *
 *   npx tsx bench/vm.ts        (BENCH_ROUNDS=5, BENCH_IDLE_PODS=4 to change)
 *
 * Writes bench/results/vm.json and .md. Needs root, the guest (scripts/build-vm-guest.sh) and the local test
 * registry. A shared 2-vCPU VM: compare runs on the same machine only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../test/helpers/daemon';
import { ensureTestRegistry } from '../test/helpers/registry';
import { BUSYBOX } from '../test/fixtures/images';
import * as h from '../test/vm/helpers';

const SLOT = 4;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const IDLE_PODS = Number(process.env.BENCH_IDLE_PODS ?? 4);
const OUT = path.join(__dirname, 'results');

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const r = (n: number | undefined) => Math.round((n ?? NaN) * 10) / 10;
  return { n: s.length, median: r(s[Math.floor((s.length - 1) / 2)]), min: r(s[0]), max: r(s[s.length - 1]) };
};

async function ms<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

function memAvailableKiB(): number {
  return Number(/MemAvailable:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
}

function pssKiB(pid: number): number {
  return Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
}

async function main(): Promise<void> {
  h.ensureGuest();
  await ensureTestRegistry();
  const tmp = h.tempDir();
  const logRoot = path.join(tmp, 'pods');
  const d: DaemonHandle = await startDaemon({
    config: {
      logLevel: 'info',
      handlers: { vm: { backend: 'vm', options: {} }, 'vm-cold': { backend: 'vm', options: { template: false } } },
      backends: { vm: { enabled: true, guestDir: h.GUEST_DIR } },
      network: { confDir: h.writeCniConf(tmp, SLOT) },
      security: { logRoot },
    },
  });
  const pods: string[] = [];
  let seq = 0;
  const podConfig = () => {
    const name = `bench-${++seq}`;
    return {
      metadata: { name, namespace: 'bench', uid: `${name}-${process.pid}`, attempt: 0 },
      hostname: name,
      log_directory: path.join(logRoot, name),
    };
  };
  const runPod = async (handler: string) => {
    const config = podConfig();
    const [t, r] = await ms(() => d.rt('RunPodSandbox', { config, runtime_handler: handler }, { deadlineMs: 300_000 }));
    pods.push(r.pod_sandbox_id);
    return { t, id: r.pod_sandbox_id, config };
  };
  const removePod = async (id: string) => {
    await d.rt('StopPodSandbox', { pod_sandbox_id: id }, { deadlineMs: 60_000 });
    await d.rt('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 60_000 });
    pods.splice(pods.indexOf(id), 1);
  };
  try {
    await d.img('PullImage', { image: { image: BUSYBOX.ref, runtime_handler: 'vm' } }, { deadlineMs: 120_000 });
    const tmplRoot = path.join(d.stateDir, 'backends', 'vm', 'templates');
    await h.waitFor(
      'template',
      () =>
        fs.existsSync(tmplRoot) && fs.readdirSync(tmplRoot).some((k) => fs.existsSync(path.join(tmplRoot, k, 'state')))
          ? true
          : undefined,
      600_000,
    );

    const cold: number[] = [];
    for (let i = 0; i < Math.min(ROUNDS, 3); i++) {
      const p = await runPod('vm-cold');
      cold.push(p.t);
      await removePod(p.id);
    }
    const clone: number[] = [];
    const start: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const p = await runPod('vm');
      clone.push(p.t);
      const config = {
        metadata: { name: 'c' },
        image: { image: BUSYBOX.ref },
        command: ['sleep', '1000'],
        log_path: 'c.log',
      };
      const [t] = await ms(async () => {
        const c = await d.rt(
          'CreateContainer',
          { pod_sandbox_id: p.id, config, sandbox_config: p.config },
          { deadlineMs: 120_000 },
        );
        await d.rt('StartContainer', { container_id: c.container_id }, { deadlineMs: 60_000 });
      });
      start.push(t);
      await removePod(p.id);
    }

    // Idle memory: K clone pods with one sleeping container each, left alone for a while.
    await new Promise((r) => setTimeout(r, 5_000));
    const before = memAvailableKiB();
    const idle: string[] = [];
    for (let i = 0; i < IDLE_PODS; i++) {
      const p = await runPod('vm');
      const config = {
        metadata: { name: 'c' },
        image: { image: BUSYBOX.ref },
        command: ['sleep', '100000'],
        log_path: 'c.log',
      };
      const c = await d.rt(
        'CreateContainer',
        { pod_sandbox_id: p.id, config, sandbox_config: p.config },
        { deadlineMs: 120_000 },
      );
      await d.rt('StartContainer', { container_id: c.container_id }, { deadlineMs: 60_000 });
      idle.push(p.id);
    }
    await new Promise((r) => setTimeout(r, 20_000));
    const after = memAvailableKiB();
    const pids = idle.flatMap((id) => h.qemuProcesses(path.join(d.runDir, 'vm', id.slice(0, 16))));
    const pss = pids.map((p) => pssKiB(p) / 1024);
    const rss = await Promise.all(
      idle.map(
        async (id) =>
          Number(
            (await d.rt('PodSandboxStats', { pod_sandbox_id: id })).stats?.linux?.memory?.working_set_bytes?.value ?? 0,
          ) / 1048576,
      ),
    );
    const result = {
      date: new Date().toISOString(),
      host: {
        cpus: os.cpus().length,
        kernel: os.release(),
        node: process.version,
        loadavg1mAtEnd: Math.round(os.loadavg()[0]! * 10) / 10,
      },
      runPodSandboxMs: { cold: stats(cold), template: stats(clone) },
      containerStartMs: stats(start),
      idleMemoryPerPodMiB: {
        pods: IDLE_PODS,
        qemuPss: stats(pss),
        qemuRssReported: stats(rss),
        memAvailableDrop: Math.round(((before - after) / 1024 / IDLE_PODS) * 10) / 10,
      },
    };
    fs.mkdirSync(OUT, { recursive: true });
    fs.writeFileSync(path.join(OUT, 'vm.json'), JSON.stringify(result, null, 2) + '\n');
    const row = (name: string, s: ReturnType<typeof stats>) =>
      `| ${name} | ${s.n} | ${s.median} | ${s.min} | ${s.max} |`;
    const md = [
      '# vm backend: pod VM boot, container start, idle memory',
      '',
      `${result.date} · ${result.host.cpus} vCPU · kernel ${result.host.kernel} · node ${result.host.node} · qemu microvm, TCG (no usable KVM here) · load average at the end ${result.host.loadavg1mAtEnd} (other engineers' builds and tests share the 2 cores: TCG boots are CPU-bound)`,
      '',
      'Over the crimux CRI socket; CNI bridge; busybox from the local registry. RunPodSandbox returns once the guest agent answered and the pod has its IP.',
      '',
      '| measurement | n | median | min | max |',
      '|---|---:|---:|---:|---:|',
      row('RunPodSandbox, cold boot (ms)', result.runPodSandboxMs.cold),
      row('RunPodSandbox, template clone (ms)', result.runPodSandboxMs.template),
      row('CreateContainer + StartContainer (ms)', result.containerStartMs),
      row('idle pod: qemu PSS (MiB)', result.idleMemoryPerPodMiB.qemuPss),
      row('idle pod: qemu RSS as PodSandboxStats reports it (MiB)', result.idleMemoryPerPodMiB.qemuRssReported),
      '',
      `Host MemAvailable drop per idle pod over ${IDLE_PODS} pods: ${result.idleMemoryPerPodMiB.memAvailableDrop} MiB (whole-machine figure: other engineers' processes on the shared host move it; qemu PSS is the per-pod cost — pages of the template's RAM file are shared by all clones).`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(OUT, 'vm.md'), md);
    process.stdout.write(md);
  } finally {
    for (const id of [...pods]) await removePod(id).catch(() => undefined);
    await d.stop().catch(() => d.kill9());
    for (const pid of h.qemuProcesses(d.runDir)) process.kill(pid, 'SIGKILL');
    h.releaseMount(path.join(d.runDir, 'netns'));
    h.removeBridge(SLOT);
    await d.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
