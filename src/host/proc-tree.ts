/**
 * A process's descendants from /proc (the children files of each of its threads): how rkt's stage1 finds an app's
 * process under nsenter and systemd-nspawn, and how exec sessions of the rkt and docker backends find what to kill.
 */
import { promises as fs } from 'node:fs';

/** Direct children of pid (all its threads'), from /proc/PID/task/TID/children. */
export async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await fs.readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const out: number[] = [];
  for (const t of tasks) {
    const text = await fs.readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
    for (const c of text.trim().split(/\s+/)) if (c) out.push(Number(c));
  }
  return out;
}

/** pid and all its descendants, parents first. */
export async function processTree(pid: number): Promise<number[]> {
  const out = [pid];
  for (let i = 0; i < out.length && out.length < 4096; i++) out.push(...(await childrenOf(out[i] as number)));
  return out;
}
