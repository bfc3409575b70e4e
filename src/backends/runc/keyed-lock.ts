/** A mutex per key (sandbox or container ID): operations on one object run one at a time, others in parallel. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      // Only the last waiter clears the entry, so the map does not grow with every ID ever seen.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
