/** Bounded polling and sleeping that respect an AbortSignal; every wait in crimux has an upper bound. */
import { setTimeout as sleepTimer } from 'node:timers/promises';

/** Sleeps `ms`, rejecting early when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await sleepTimer(ms, undefined, signal ? { signal } : undefined);
}

export interface PollOptions {
  readonly timeoutMs: number;
  /** First interval; doubles up to maxIntervalMs so short waits stay fast and long waits stay cheap. */
  readonly intervalMs?: number;
  readonly maxIntervalMs?: number;
  readonly signal?: AbortSignal;
}

/** Calls `check` until it returns a value other than undefined, or the timeout passes (then resolves undefined). */
export async function pollUntil<T>(check: () => Promise<T | undefined>, opts: PollOptions): Promise<T | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  let interval = opts.intervalMs ?? 10;
  const max = opts.maxIntervalMs ?? 200;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(interval, left), opts.signal);
    interval = Math.min(interval * 2, max);
  }
}
