/**
 * Keeps work in call order when some of it is asynchronous (a header block being compressed or inflated):
 * synchronous items run at once while nothing is pending, otherwise they wait their turn behind the pending
 * ones. The SPDY session uses one for frames out (a SYN_STREAM must precede its DATA) and one for frames in.
 */
export class OrderedQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(private readonly onError: (err: unknown) => void) {}

  get idle(): boolean {
    return this.pending === 0;
  }

  /** Run `step` once `input` is ready and everything queued before it ran. */
  run<T>(input: T | Promise<T>, step: (value: T) => void): void {
    if (!(input instanceof Promise) && this.pending === 0) {
      step(input);
      return;
    }
    // Mark a rejection handled now: the chain below awaits it only when its turn comes, and an unhandled
    // rejection in the meantime would take the process down.
    if (input instanceof Promise) input.catch(() => undefined);
    this.pending++;
    this.tail = this.tail
      .then(async () => step(await input))
      .catch((err: unknown) => this.onError(err))
      .finally(() => this.pending--);
  }

  /** Run `fn` after everything queued so far. */
  then(fn: () => void): void {
    this.run(undefined, fn);
  }
}
