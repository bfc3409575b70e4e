/** Small shared helpers for the benchmarks: timing, quantiles, the machine line, result files. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnHelperPids } from '../test/helpers/daemon';

export const RESULTS = path.join(__dirname, 'results');

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

/** Runs fn n times, returning each duration in ms. */
export async function sample(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

export function summary(xs: readonly number[]): { n: number; p50: number; p90: number; p99: number } {
  return { n: xs.length, p50: round(quantile(xs, 0.5)), p90: round(quantile(xs, 0.9)), p99: round(quantile(xs, 0.99)) };
}

export function machine(): string {
  const kernel = os.release();
  const cpu = os.cpus()[0]?.model ?? 'cpu';
  let load: string;
  try {
    load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    load = '?';
  }
  const runc = (() => {
    try {
      return execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
    } catch {
      return 'runc ?';
    }
  })();
  return `${os.cpus().length} vCPU (${cpu}) · ${Math.round(os.totalmem() / 2 ** 30)} GiB · kernel ${kernel} · node ${process.version} · ${runc} · load ${load}`;
}

export function writeResults(name: string, json: unknown, markdown: string): void {
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, `${name}.json`), JSON.stringify(json, null, 2) + '\n');
  fs.writeFileSync(path.join(RESULTS, `${name}.md`), markdown.endsWith('\n') ? markdown : markdown + '\n');
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

export function memAvailableBytes(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** Runs at most `limit` of the tasks at once. */
export async function pool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await (tasks[i] as () => Promise<T>)();
      }
    }),
  );
  return out;
}

/**
 * CPU ms a runtime process has used from /proc/<pid>/stat (clock ticks of 10 ms): its own threads (utime,
 * stime), plus with `children` the children it reaped (cutime, cstime: tar, zstd, a template VM's qemu) and its
 * spawn helper's.
 */
export function cpuMs(pid: number, children = true): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "(comm) ", field 3 (state) is f[0], so utime..cstime (fields 14–17) are f[11..14].
  const own = (children ? [11, 12, 13, 14] : [11, 12]).reduce((sum, i) => sum + Number(f[i]), 0) * 10;
  // crimux's children are reaped by its crimux-spawn helper, which is alive: count them through it.
  return children ? own + spawnHelperPids(pid).reduce((sum, h) => sum + cpuMs(h), 0) : own;
}
