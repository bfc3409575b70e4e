/**
 * Removal in the background, like containerd's garbage collection: RemoveContainer and RemovePodSandbox only
 * make the object disappear (its directory is renamed into <stateDir>/trash, its record dropped) and answer;
 * the slow host work — `runtime delete`, unmounting and deleting the root snapshot, the pod's shm and cgroup —
 * runs right after, off the kubelet's critical path.
 *
 * Durable: the trash entry holds a job.json saying what is left to do, and is deleted last, so a crash at any
 * point leaves work that resume() (run by recovery at start) finishes. A sandbox's job waits for the jobs of its
 * containers, because its cgroup parent and snapshot outlive theirs. Failed jobs stay in the trash and are
 * retried at the next start.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errorMessage } from '../../errors';
import type { ImageStore, SnapshotStore } from '../../images/types';
import type { Logger } from '../../log/logger';
import type { Engine } from './engine';
import { unmountShm } from './pod-files';

export interface ReapJob {
  readonly kind: 'container' | 'sandbox';
  readonly id: string;
  /** Undefined when unknown (a record lost in a crash): every handler's runtime is asked. */
  readonly handler?: string;
  readonly sandboxId?: string;
  readonly shmPath?: string;
  /** Set when crimux created the pod's cgroup parent and must remove it. */
  readonly cgroupParent?: string;
}

export class Reaper {
  private readonly pending = new Map<string, { job: ReapJob; done: Promise<void> }>();

  constructor(
    private readonly trashDir: string,
    private readonly engine: Engine,
    private readonly images: ImageStore & SnapshotStore,
    private readonly log: Logger,
    /** Work still in flight for a container (CreateContainer mounts and launches in the background). */
    private readonly mounting: (id: string) => Promise<unknown> | undefined,
    /** Removes a pod cgroup crimux created (cgroup-driver.ts removePodCgroup with the host's layer). */
    private readonly removePodCgroup: (parent: string) => Promise<string[]>,
    /** The cgroup crimux makes for a pod without a kubelet-given parent (for entries whose job.json is lost). */
    private readonly ownPodCgroup?: (id: string) => string,
  ) {}

  /**
   * Moves `dir` (a container or sandbox directory, if it exists) into the trash with its job, then starts the
   * job. Resolves once the object is gone from the state dir; the job's own completion is not awaited.
   */
  async schedule(job: ReapJob, dir: string): Promise<void> {
    if (this.pending.has(job.id)) return; // already on its way out
    const entry = this.entryOf(job);
    await fs.mkdir(this.trashDir, { recursive: true, mode: 0o700 });
    // The job goes into the directory before the rename, so the trash never holds an entry without it: resume()
    // could only guess kind and ID from the name, and would leak what the job alone knows (the pod's cgroup, shm).
    const written = await fs.writeFile(path.join(dir, 'job.json'), JSON.stringify(job)).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        return false;
      },
    );
    try {
      await fs.rename(dir, entry);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fs.mkdir(entry, { recursive: true });
      await fs.writeFile(path.join(entry, 'job.json'), JSON.stringify(job));
      return this.start(job, entry, nextTurn());
    }
    if (!written) await fs.writeFile(path.join(entry, 'job.json'), JSON.stringify(job));
    this.start(job, entry, nextTurn());
  }

  /** Runs every job found in the trash (after a restart); containers first. */
  async resume(): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this.trashDir);
    } catch {
      return;
    }
    const jobs: { job: ReapJob; entry: string }[] = [];
    for (const name of names) {
      const entry = path.join(this.trashDir, name);
      try {
        jobs.push({ job: JSON.parse(await fs.readFile(path.join(entry, 'job.json'), 'utf8')) as ReapJob, entry });
      } catch {
        // A rename done but job.json not yet written: the name alone says kind and ID.
        // A sandbox's own cgroup is removed too: rmdir of one that never existed (kubelet-given parent) is a no-op.
        const m = /^([cs])-(.+)$/.exec(name);
        if (m?.[1] === 'c') jobs.push({ job: { kind: 'container', id: m[2]! }, entry });
        else if (m) jobs.push({ job: { kind: 'sandbox', id: m[2]!, cgroupParent: this.ownPodCgroup?.(m[2]!) }, entry });
      }
    }
    jobs.sort((a, b) => (a.job.kind === b.job.kind ? 0 : a.job.kind === 'container' ? -1 : 1));
    for (const { job, entry } of jobs) this.start(job, entry);
    if (jobs.length > 0) this.log.info('resumed background removals', { count: jobs.length });
  }

  /** Waits for jobs: all of them, or those of the given IDs (bounded by the caller). */
  async drain(ids?: readonly string[]): Promise<void> {
    const which = ids ? ids.map((id) => this.pending.get(id)) : [...this.pending.values()];
    await Promise.allSettled(which.map((p) => p?.done));
  }

  private entryOf(job: ReapJob): string {
    return path.join(this.trashDir, `${job.kind === 'container' ? 'c' : 's'}-${job.id}`);
  }

  private start(job: ReapJob, entry: string, after: Promise<void> = Promise.resolve()): void {
    const done = after
      .then(() => this.run(job, entry))
      .catch((err: unknown) =>
        this.log.warn('background removal failed; retried at next start', {
          kind: job.kind,
          id: job.id,
          error: errorMessage(err),
        }),
      )
      .finally(() => {
        if (this.pending.get(job.id)?.done === done) this.pending.delete(job.id);
      });
    this.pending.set(job.id, { job, done });
  }

  private async run(job: ReapJob, entry: string): Promise<void> {
    const signal = AbortSignal.timeout(120_000);
    const ctx = { signal, log: this.log.child({ [job.kind]: job.id }) };
    if (job.kind === 'container') {
      await this.mounting(job.id)?.catch(() => undefined); // never unmount under a mount or launch in progress
      await this.engine.destroy(job.handler, job.id, entry, ctx.log, signal);
      await this.images.removeSnapshot(ctx, job.id);
    } else {
      // Containers of this pod release their cgroups (children of the pod's) and mounts first.
      const children = [...this.pending.values()].filter(
        (p) => p.job.kind === 'container' && (p.job.sandboxId === job.id || !p.job.sandboxId),
      );
      await Promise.allSettled(children.map((p) => p.done));
      await this.engine.destroy(job.handler, job.id, path.join(entry, 'pause'), ctx.log, signal);
      await Promise.all([
        this.images.removeSnapshot(ctx, job.id),
        job.shmPath ? unmountShm(job.shmPath, signal) : undefined,
      ]);
      if (job.cgroupParent) {
        // A cgroup that will not go (a process escaped into it) keeps the job in the trash: retried, not forgotten.
        const left = await this.removePodCgroup(job.cgroupParent);
        if (left.length > 0) throw new Error(`pod cgroup not fully removed: ${left.join(',')}`);
      }
    }
    await fs.rm(entry, { recursive: true, force: true });
    ctx.log.debug('background removal done');
  }
}

/**
 * A later loop turn (a timer, not setImmediate, which would run before HTTP/2 flushes the reply): the caller's
 * reply goes out before the job forks its first helper process.
 */
function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, 1));
}
