/**
 * Concurrency helpers of the image store: deduplicated work (one pull per reference, one download per layer)
 * and bounded fan-out. Keyed mutual exclusion is src/util/keyed-mutex.ts.
 */

/** Runs one `fn` per key at a time; concurrent callers with the same key share its result. */
export class SingleFlight<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  /** True when this call started the work (false: it joined a flight already running). */
  run(key: string, fn: () => Promise<T>): { promise: Promise<T>; leader: boolean } {
    const running = this.inflight.get(key);
    if (running) return { promise: running, leader: false };
    const promise = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return { promise, leader: true };
  }

  get size(): number {
    return this.inflight.size;
  }
}

/**
 * Runs `fn` over items with at most `limit` in flight, failing fast: on the first rejection no further item
 * starts and `abort` is called (so the running ones stop at once); once every started item has settled, the
 * first error is thrown. Results are in input order.
 */
export async function mapLimitFailFast<I, O>(
  items: readonly I[],
  limit: number,
  fn: (item: I) => Promise<O>,
  abort: (reason: unknown) => void,
): Promise<O[]> {
  const results: O[] = new Array(items.length);
  let next = 0;
  let failure: { reason: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as I);
      } catch (reason) {
        if (!failure) {
          failure = { reason };
          abort(reason);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.reason;
  return results;
}
