/**
 * The pod manifest (`pods/run/<uuid>/pod`): rkt's PodManifest, reduced to what the stage1 and `rkt list` need, plus
 * a `crimux` section with the sandbox options the stage1 must remember (all state lives on disk).
 *
 * Mutations (app add/rm) run under the pod lock: rkt flocked pod.lck; Node has no flock(2), so the lock is a
 * directory created atomically (mkdir) holding its owner's PID, taken over when that owner is dead. Within one
 * process a promise chain per pod serialises callers first, so the directory lock only arbitrates between
 * processes (crimux and the `crimux rkt` debugging CLI).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DeadlineExceededError } from '../../../errors';
import { sleep } from '../../../host/wait';
import type { SandboxNetwork } from '../pod-manager';
import type { CgroupSet } from './cgroups';
import { readJson, readOptional, writeAtomic } from './files';
import { pidAlive } from './liveness';
import { KeyedMutex } from '../../../util/keyed-mutex';

export const MUTABLE_ANNOTATION = 'coreos.com/rkt/stage1/mutable';
export const FLAVOR_ANNOTATION = 'crimux.io/rkt/stage1-flavor';

export interface ManifestApp {
  readonly name: string;
  readonly image: { readonly name: string; readonly id: string };
}

export interface PodManifest {
  readonly acKind: 'PodManifest';
  readonly acVersion: '0.8.11';
  readonly apps: ManifestApp[];
  readonly annotations: { readonly name: string; readonly value: string }[];
  readonly userAnnotations: Record<string, string>;
  readonly userLabels: Record<string, string>;
  readonly crimux: {
    readonly hostname: string;
    readonly network: SandboxNetwork;
    /** Pod IPs when crimux attached the netns (reported as rkt's networks[]). */
    readonly ips: string[];
    readonly logDirectory: string;
    /** The pod's cgroup in every hierarchy. */
    readonly cgroup: CgroupSet;
  };
}

export async function readManifest(file: string): Promise<PodManifest | undefined> {
  return readJson<PodManifest>(file);
}

export async function writeManifest(file: string, m: PodManifest): Promise<void> {
  await writeAtomic(file, `${JSON.stringify(m, null, 2)}\n`);
}

// The lock directory only excludes other processes; callers in this one queue here first.
const inProcess = new KeyedMutex();

/** Runs fn holding the pod's lock (in-process queue, then the cross-process lock directory). */
export async function withPodLock<T>(lockFile: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  return inProcess.run(lockFile, async () => {
    await acquireDirLock(lockFile, timeoutMs);
    try {
      return await fn();
    } finally {
      await fs.rm(`${lockFile}.d`, { recursive: true, force: true });
    }
  });
}

async function acquireDirLock(lockFile: string, timeoutMs: number): Promise<void> {
  const dir = `${lockFile}.d`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fs.mkdir(dir);
      await fs.writeFile(path.join(dir, 'owner'), String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readOptional(path.join(dir, 'owner')))?.trim());
    // A lock whose owner died (or never wrote its PID and is old) is stale: take it over.
    if ((Number.isInteger(owner) && owner > 0 && !(await pidAlive(owner))) || (await staleWithoutOwner(dir))) {
      await fs.rm(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new DeadlineExceededError(`lock ${lockFile}: held by PID ${owner}`);
    await sleep(20);
  }
}

async function staleWithoutOwner(dir: string): Promise<boolean> {
  const owner = await readOptional(path.join(dir, 'owner'));
  if (owner !== undefined && owner.trim() !== '') return false;
  const st = await fs.stat(dir).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > 5_000;
}
