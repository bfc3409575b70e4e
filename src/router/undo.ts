/**
 * Creation is transactional: each step that made something pushes its undo; on failure the undos run in reverse
 * on their own deadline (the caller's may be what just expired), and their own failures are logged, not thrown,
 * so the original error reaches the caller.
 */
import type { Logger } from '../log/logger';
import { errorMessage } from '../errors';

export class UndoStack {
  private readonly steps: { what: string; fn: (signal: AbortSignal) => Promise<void> | void }[] = [];

  push(what: string, fn: (signal: AbortSignal) => Promise<void> | void): void {
    this.steps.push({ what, fn });
  }

  async run(log: Logger, timeoutMs: number): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    for (const step of this.steps.reverse()) {
      try {
        await step.fn(signal);
        log.info('undid create step', { step: step.what });
      } catch (err) {
        log.error('undo of create step failed; reconcile will retry at next start', {
          step: step.what,
          error: errorMessage(err),
        });
      }
    }
    this.steps.length = 0;
  }
}

/** Waits for `work`, or rejects when `signal` aborts first (the work itself goes on). */
export function untilAbort<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? Object.assign(new Error('operation aborted'), { name: 'AbortError' });
}
