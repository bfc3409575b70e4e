/** Bounded polling and sleeping that respect an AbortSignal; every wait in crimux has an upper bound. */
import net from 'node:net';
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

/**
 * Connects to the unix socket at `path`, retrying every `intervalMs` while it is missing or refusing (a program
 * that is still starting: qemu's QMP and migration sockets) until `timeoutMs`; then throws the last error.
 */
export async function connectWhenListening(path: string, timeoutMs: number, intervalMs: number): Promise<net.Socket> {
  let lastErr: unknown;
  const sock = await pollUntil(
    async () => {
      try {
        return await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(path);
          s.once('connect', () => {
            s.removeListener('error', reject);
            resolve(s);
          });
          s.once('error', reject);
        });
      } catch (err) {
        lastErr = err;
        return undefined;
      }
    },
    { timeoutMs, intervalMs, maxIntervalMs: intervalMs },
  );
  if (sock) return sock;
  throw lastErr instanceof Error ? lastErr : new Error('timed out');
}
