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

/** Runs `fn` over items with at most `limit` in flight; every item runs, results in input order. */
export async function mapLimit<I, O>(
  items: readonly I[],
  limit: number,
  fn: (item: I) => Promise<O>,
): Promise<PromiseSettledResult<O>[]> {
  const results: PromiseSettledResult<O>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      const item = items[i] as I;
      try {
        results[i] = { status: 'fulfilled', value: await fn(item) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
