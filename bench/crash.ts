/**
 * The crash harness's random mode at full size (issue #24): on every backend that runs here, concurrent
 * kubelet-like clients cycle pods and containers while crimux is SIGKILLed at seeded random moments (50 times on
 * runc, 10 on each other backend), then one kubelet-style cleanup pass and an audit of the host
 * (test/reliability/crash-random.ts). Figures go to bench/results/crash.json (`random`, next to the failpoint
 * figures of test/reliability/crash.test.ts) and crash.md.
 *
 *   node --import tsx bench/crash.ts                 all backends, default kills
 *   node --import tsx bench/crash.ts runc=50 vm=10   these backends and kill counts
 *   CRIMUX_CRASH_SEED=7 …                            another seed
 */
import fs from 'node:fs';
import path from 'node:path';
import { RESULTS, machine } from './lib';
import {
  backendUnavailable,
  crashRandom,
  STOP_BOUND_MS,
  type CrashBackend,
  type CrashRandomFigures,
} from '../test/reliability/crash-random';

const DEFAULT_KILLS: Record<CrashBackend, number> = { runc: 50, docker: 10, rkt: 10, vm: 10 };
const SLOTS: Record<CrashBackend, number> = { runc: 32, docker: 33, rkt: 34, vm: 35 };
/** vm pods boot under TCG here (seconds each): longer gaps, so kills land in cycles and not only in boots. */
const GAPS: Record<CrashBackend, [number, number]> = {
  runc: [500, 3000],
  docker: [500, 3000],
  rkt: [500, 3000],
  vm: [2000, 8000],
};

async function main(): Promise<number> {
  const seed = Number(process.env.CRIMUX_CRASH_SEED ?? 24);
  const args = process.argv.slice(2);
  const chosen: [CrashBackend, number][] = args.length
    ? args.map((a) => {
        const [b, k] = a.split('=') as [CrashBackend, string | undefined];
        return [b, k ? Number(k) : DEFAULT_KILLS[b]];
      })
    : (Object.entries(DEFAULT_KILLS) as [CrashBackend, number][]);
  const file = path.join(RESULTS, 'crash.json');
  const results = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const random = (results.random ?? {}) as Record<string, unknown>;
  let failed = false;
  for (const [backend, kills] of chosen) {
    const skip = backendUnavailable(backend);
    if (skip) {
      random[backend] = { skipped: skip };
      continue;
    }
    const t0 = Date.now();
    process.stdout.write(`== crash random: ${backend}, ${kills} kills, seed ${seed}\n`);
    const fig = await crashRandom({
      backend,
      kills,
      seed,
      clients: 2,
      slot: SLOTS[backend],
      gapMs: GAPS[backend],
      progress: (l) => process.stdout.write(`${l}\n`),
    });
    const ok =
      fig.finalLeaks.length === 0 &&
      fig.firstPass.leftoverPods + fig.firstPass.leftoverContainers === 0 &&
      fig.firstPass.failedCalls.length === 0 &&
      fig.slowStops.length === 0 &&
      fig.unexpectedErrorCount === 0 &&
      fig.selfCrashes === 0;
    failed ||= !ok;
    // Per backend: a run of some backends keeps the others' earlier figures, and the table says when each is from.
    random[backend] = { ok, when: new Date().toISOString(), wallSeconds: Math.round((Date.now() - t0) / 1000), ...fig };
    process.stdout.write(`${JSON.stringify(random[backend], null, 2)}\n`);
  }
  results.random = { when: new Date().toISOString(), machine: machine(), stopBoundMs: STOP_BOUND_MS, ...random };
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  fs.writeFileSync(path.join(RESULTS, 'crash.md'), markdown(random) + '\n');
  return failed ? 1 : 0;
}

function markdown(random: Record<string, unknown>): string {
  const rows = Object.entries(random)
    .filter(([, v]) => v && typeof v === 'object' && 'kills' in (v as object))
    .map(([b, v]) => {
      const f = v as CrashRandomFigures & { ok: boolean; when?: string };
      const repairs = Object.entries(f.repairs)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
      return `| ${b} | ${f.when?.slice(0, 16).replace('T', ' ') ?? 'earlier'} | ${f.kills} | ${f.cycles.completed} / ${f.cycles.interrupted} | ${repairs || 'none'} | ${f.firstPass.pods} → ${f.firstPass.leftoverPods} pods, ${f.firstPass.leftoverContainers} containers | ${f.finalLeaks.length} | ${(f.timeToCleanMs / 1000).toFixed(1)} s | ${f.slowestStopPodSandboxMs} ms |`;
    });
  return [
    '# Crash recovery under load (random kill -9)',
    '',
    `Machine: ${machine()}. Two kubelet-like clients per backend; seed in crash.json.`,
    '',
    '| backend | run (UTC) | kills | cycles done / cut by a kill | repairs at restart | cleanup pass: pods → left | leaks after | time to clean | slowest StopPodSandbox |',
    '|---|---|---:|---|---|---|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
