/**
 * The one benchmark command (`npm run bench`): runs every benchmark in turn, each in its own process so one
 * failing does not stop the others, then writes bench/results/summary.md from their result files.
 *
 *   npm run bench                 all of them
 *   npm run bench -- router vm    only these
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RESULTS, machine } from './lib';

const BENCHES = [
  { name: 'router', file: 'router.ts', what: 'router overhead, list scaling, footprint, throughput (runc)' },
  { name: 'transport', file: 'transport.ts', what: 'per-RPC overhead: grpc-js vs direct transport vs containerd' },
  {
    name: 'hotpath',
    file: 'hotpath.ts',
    what: "the kubelet's hot calls side by side with containerd at 10, 100, 1,000 containers",
  },
  { name: 'idle', file: 'idle.ts', what: 'idle daemon CPU and RSS at 0 and 1,000 containers, vs containerd' },
  {
    name: 'spawn',
    file: 'spawn.ts',
    what: 'host command start cost: Node spawn vs the crimux-spawn helper, by daemon RSS',
  },
  { name: 'status', file: 'status.ts', what: 'Status latency with all four backends, per-call vs background health' },
  {
    name: 'runc-lifecycle',
    file: 'runc-lifecycle.ts',
    what: 'runc pod+container lifecycle, vs containerd when installed',
  },
  { name: 'docker-lifecycle', file: 'docker-lifecycle.ts', what: 'docker backend lifecycle' },
  { name: 'vm', file: 'vm.ts', what: 'vm pod boot, container start, memory per VM pod' },
  { name: 'rkt', file: 'rkt.ts', what: 'rkt pod and app lifecycle' },
  { name: 'image-pull', file: 'image-pull.ts', what: 'image pull vs skopeo' },
  {
    name: 'pull-main-thread',
    file: 'pull-main-thread.ts',
    what: 'event-loop utilisation and cores busy during an in-process cold pull',
  },
  { name: 'crash', file: 'crash.ts', what: 'random kill -9 under load on every backend, cleanup pass, leak audit' },
];

function main(): number {
  const only = process.argv.slice(2);
  const chosen = BENCHES.filter((b) => only.length === 0 || only.includes(b.name));
  const status: string[] = [];
  for (const b of chosen) {
    const t0 = Date.now();
    process.stdout.write(`== bench ${b.name}: ${b.what}\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, b.file)], {
      stdio: 'inherit',
      timeout: 45 * 60_000,
    });
    const secs = Math.round((Date.now() - t0) / 1000);
    status.push(
      `| ${b.name} | ${r.status === 0 ? 'ok' : `failed (${r.status ?? r.signal})`} | ${secs} s | ${b.what} |`,
    );
  }
  const sections = BENCHES.map((b) => path.join(RESULTS, `${b.name}.md`))
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.readFileSync(f, 'utf8').replace(/^# /, '## '));
  const md = [
    '# crimux benchmark results',
    '',
    `Machine: ${machine()}`,
    '',
    '| benchmark | this run | time | what |',
    '|---|---|---:|---|',
    ...status,
    '',
    ...sections,
  ].join('\n');
  fs.writeFileSync(path.join(RESULTS, 'summary.md'), md + '\n');
  process.stdout.write(`wrote ${path.join(RESULTS, 'summary.md')}\n`);
  return status.some((s) => s.includes('failed')) ? 1 : 0;
}

process.exitCode = main();
