/**
 * Interface counters of a process's network namespace. /proc/<pid>/net/dev shows the namespace of that process,
 * so no helper has to enter it. The loopback is left out, as cAdvisor does.
 */
import { promises as fs } from 'node:fs';

/** Counters of one interface (what the backend contract's InterfaceUsage takes). */
export interface InterfaceCounters {
  readonly name: string;
  readonly rxBytes: bigint;
  readonly rxErrors: bigint;
  readonly txBytes: bigint;
  readonly txErrors: bigint;
}

export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = (m[2] ?? '').trim().split(/\s+/);
    const v = (i: number): bigint => (/^\d+$/.test(f[i] ?? '') ? BigInt(f[i]!) : 0n);
    out.push({ name: m[1]!, rxBytes: v(0), rxErrors: v(2), txBytes: v(8), txErrors: v(10) });
  }
  return out;
}

/** No interfaces when the process is gone. */
export async function readNetDev(pid: number): Promise<InterfaceCounters[]> {
  const text = await fs.readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => '');
  return parseNetDev(text);
}
