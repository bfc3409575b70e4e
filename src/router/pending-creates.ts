/**
 * Creates that outlive their caller (like CRI-O's resourcestore). A VM boot can take longer than the kubelet's
 * RunPodSandbox deadline; the kubelet then retries with the same name and attempt. Rather than fail that retry
 * with AlreadyExists (or build a duplicate), the retry waits for the create still in flight, or takes the result
 * of one that finished after its caller had gone. Results nobody claims expire.
 */
import type { Logger } from '../log/logger';
import { untilAbort } from '../util/abort';

export class PendingCreates {
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly unclaimed = new Map<string, { id: string; expires: number }>();

  constructor(private readonly ttlMs = 10 * 60_000) {}

  /** Remembers `create` under `key` until it settles (its caller awaits it separately). */
  track(key: string, create: Promise<string>): void {
    this.inflight.set(key, create);
    const done = (): void => {
      if (this.inflight.get(key) === create) this.inflight.delete(key);
    };
    create.then(done, done);
  }

  /** The in-flight create for `key`, if any. */
  inFlight(key: string): Promise<string> | undefined {
    return this.inflight.get(key);
  }

  /** Records a result whose caller had gone (its deadline passed while the create went on). */
  leave(key: string, id: string): void {
    this.unclaimed.set(key, { id, expires: Date.now() + this.ttlMs });
  }

  /** Takes (once) the result left for `key`. */
  claim(key: string): string | undefined {
    const now = Date.now();
    for (const [k, v] of this.unclaimed) if (v.expires < now) this.unclaimed.delete(k);
    const hit = this.unclaimed.get(key);
    if (hit) this.unclaimed.delete(key);
    return hit?.id;
  }

  /**
   * The create protocol for `key` (a pod or container name and attempt): hand back a result a departed caller
   * left, join a create still in flight, or start one with `start`. If this caller leaves before it finishes,
   * its result is left for the retry.
   */
  async once(key: string, signal: AbortSignal, log: Logger, start: () => Promise<string>): Promise<string> {
    const left = this.claim(key);
    if (left) return left;
    const inflight = this.inFlight(key);
    if (inflight) return untilAbort(signal, inflight);
    const work = start();
    this.track(key, work);
    try {
      return await untilAbort(signal, work);
    } catch (err) {
      if (signal.aborted) {
        work.then(
          (id) => this.leave(key, id),
          () => undefined,
        );
        log.warn('caller left before the create finished; keeping the result for its retry', { key });
      }
      throw err;
    }
  }
}
