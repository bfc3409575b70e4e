/**
 * Liveness the way rkt judged it: a pod directory under pods/run that is locked exclusively is running, an unlocked
 * one has exited (rkt Documentation/devel/pod-lifecycle.md). systemd-nspawn inherits the lock from
 * `flock --no-fork -x <pod>` and holds it exactly as long as it lives, so no daemon has to remember anything.
 *
 * Why /proc/locks instead of `flock -n`: one read answers for every pod, so `list` spawns no process per pod
 * (rktlet's ListContainers cost N+1 rkt execs). Entries read "1: FLOCK  ADVISORY  WRITE <pid> <maj>:<min>:<ino> …"
 * with the device in hex; a blocked waiter's line has "->" and is skipped.
 */
import { promises as fs } from 'node:fs';

/** The holders of exclusive flocks, keyed by "<maj hex>:<min hex>:<inode>". */
export async function readFlockHolders(): Promise<Map<string, number>> {
  const text = await fs.readFile('/proc/locks', 'utf8').catch(() => '');
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK' || f[3] !== 'WRITE') continue;
    const pid = Number(f[4]);
    const key = f[5];
    if (key === undefined || !Number.isInteger(pid)) continue;
    out.set(normaliseKey(key), pid);
  }
  return out;
}

function normaliseKey(key: string): string {
  const [maj, min, ino] = key.split(':');
  return `${parseInt(maj ?? '0', 16)}:${parseInt(min ?? '0', 16)}:${ino ?? ''}`;
}

/** The /proc/locks key of a path (decoded the way the kernel's new_encode_dev packs st_dev). */
export async function lockKey(p: string): Promise<string | undefined> {
  try {
    const st = await fs.stat(p, { bigint: true });
    const dev = st.dev;
    const major = Number((dev >> 8n) & 0xfffn);
    const minor = Number((dev & 0xffn) | ((dev >> 12n) & 0xfff00n));
    return `${major}:${minor}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** The PID holding an exclusive flock on p, or undefined when nobody does. */
export async function lockHolder(p: string, holders?: Map<string, number>): Promise<number | undefined> {
  const key = await lockKey(p);
  if (key === undefined) return undefined;
  return (holders ?? (await readFlockHolders())).get(key);
}

/** Start time of a process (clock ticks since boot, /proc/PID/stat field 22); guards against PID reuse. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "(comm) " the fields start at #3 (state); starttime is #22.
    return fields[22 - 3];
  } catch {
    return undefined;
  }
}

/** Whether pid is alive (not a zombie) and, when given, started at startTime. */
export async function pidAlive(pid: number, startTime?: string): Promise<boolean> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return false;
    return startTime === undefined || rest[22 - 3] === startTime;
  } catch {
    return false;
  }
}
