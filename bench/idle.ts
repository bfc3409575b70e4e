/**
 * Benchmark: what an idle daemon costs the node while it holds many containers (issue #21) — the CPU it burns
 * with nobody calling (relists, health probes, timers), which every kubelet call then competes with, and its RSS.
 * Side by side with a private containerd (bench/containerd.ts) holding the same pods, where installed.
 *
 *   npx tsx bench/idle.ts     (BENCH_SCALES=0,1000  BENCH_IDLE_SECONDS=20  BENCH_CONTAINERD=0 to skip containerd)
 *
 * Daemon processes only (their own threads; the children they reaped apart): conmon and containerd's shims are
 * per-container processes of both designs and idle alike. Writes bench/results/idle.json and .md. Not part of npm test.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTestRegistry } from '../test/helpers/registry';
import { BUSYBOX, PAUSE } from '../test/fixtures/images';
import { startContainerd, type Containerd } from './containerd';
import { cpuMs, machine, round, rssBytes, writeResults } from './lib';
import { grow, removeAll, startAllBackends, type Runtime } from './pods';

const SCALES = (process.env.BENCH_SCALES ?? '0,1000').split(',').map(Number);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
const WITH_CONTAINERD = process.env.BENCH_CONTAINERD !== '0';

interface Row {
  containers: number;
  runtime: Runtime['name'];
  /** The daemon's own threads. */
  cpuMs: number;
  /** Children reaped in the window (commands it ran; at start-up the vm backend's template build). */
  childrenCpuMs: number;
  /** Share of one core over the window (own threads). */
  corePercent: number;
  rssMiB: number;
}

/** CPU ms over the window: the daemon's own threads, and the children it reaped meanwhile. */
async function idleCpu(pid: number): Promise<{ own: number; children: number }> {
  const own0 = cpuMs(pid, false);
  const all0 = cpuMs(pid);
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const own = cpuMs(pid, false) - own0;
  return { own, children: cpuMs(pid) - all0 - own };
}

async function main(): Promise<void> {
  const { port } = await ensureTestRegistry();
  const registry = `127.0.0.1:${port}`;
  const logRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-bench-idle-'));
  const d = await startAllBackends('idle', logRoot);
  const runtimes: { r: Runtime; pid: number }[] = [
    {
      r: { name: 'crimux', cri: d.cri, socket: d.socket, busybox: BUSYBOX.ref, logRoot, pods: 0 },
      pid: d.pid(),
    },
  ];
  let ctr: Containerd | undefined;
  const rows: Row[] = [];
  try {
    await d.img('PullImage', { image: { image: BUSYBOX.ref } }, { deadlineMs: 300_000 });
    await d.img('PullImage', { image: { image: PAUSE.ref } }, { deadlineMs: 300_000 });
    if (WITH_CONTAINERD) {
      ctr = await startContainerd(registry, `${registry}/${PAUSE.local}`);
      const busybox = `${registry}/${BUSYBOX.local}`;
      await ctr.cri.img('PullImage', { image: { image: busybox } }, { deadlineMs: 300_000 });
      await ctr.cri.img('PullImage', { image: { image: `${registry}/${PAUSE.local}` } }, { deadlineMs: 300_000 });
      runtimes.push({
        r: { name: 'containerd', cri: ctr.cri, socket: ctr.socket, busybox, logRoot, pods: 0 },
        pid: ctr.pid,
      });
    }
    for (const scale of SCALES) {
      for (const { r } of runtimes) await grow(r, scale);
      // Let start-up work (snapshots written, first stats) settle before the window.
      await new Promise((r) => setTimeout(r, 5000));
      for (const { r, pid } of runtimes) {
        const { own, children } = await idleCpu(pid);
        rows.push({
          containers: scale,
          runtime: r.name,
          cpuMs: own,
          childrenCpuMs: children,
          corePercent: round((own / (IDLE_SECONDS * 1000)) * 100, 1),
          rssMiB: round(rssBytes(pid) / 2 ** 20, 1),
        });
        // When the window ended, to cut it out of a CPU profile (CRIMUX_DAEMON_NODE_ARGS="--cpu-prof …").
        process.stderr.write(`window ended at ${Date.now()}\n`);
        process.stderr.write(
          `${scale} containers, ${r.name}: ${own} ms CPU (children ${children}) in ${IDLE_SECONDS} s\n`,
        );
      }
    }
  } finally {
    for (const { r } of runtimes) {
      await removeAll(r).catch((err: unknown) => process.stderr.write(`${r.name} cleanup: ${String(err)}\n`));
    }
    await ctr?.stop();
    await d.stop();
    process.stderr.write(`daemon stopped at ${Date.now()}\n`);
    spawnSync('umount', ['-l', path.join(d.runDir, 'netns')]);
    await d.cleanup().catch((err: unknown) => process.stderr.write(`cleanup: ${String(err)}\n`));
    fs.rmSync(logRoot, { recursive: true, force: true });
  }
  const env = machine();
  const md = [
    '# An idle daemon holding many containers (issue #21)',
    '',
    `${new Date().toISOString()} · ${env} · containerd ${ctr?.version ?? 'not measured'}`,
    '',
    `CPU used by the daemon process's own threads over ${IDLE_SECONDS} s with no client calling, after 5 s of settling; host-network pods of 10 running busybox containers each (crimux: all four backends enabled and up, pods on runc). Each runtime is measured alone in its window while the other holds its containers too. Children: CPU of the commands it ran and reaped in the window (crimux at start-up: the vm backend's template VM build under TCG).`,
    '',
    '| containers | runtime | CPU ms | % of a core | children CPU ms | RSS MiB |',
    '|---:|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) => `| ${r.containers} | ${r.runtime} | ${r.cpuMs} | ${r.corePercent} | ${r.childrenCpuMs} | ${r.rssMiB} |`,
    ),
  ].join('\n');
  writeResults('idle', { machine: env, containerd: ctr?.version, idleSeconds: IDLE_SECONDS, rows }, md);
  process.stdout.write(md + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
