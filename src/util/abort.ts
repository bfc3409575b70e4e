/** Waiting with an AbortSignal without cancelling the work itself. */

/** Resolves with `work`, or rejects with the signal's reason as soon as `signal` aborts (the work goes on). */
export function untilAbort<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) {
    // The work goes on without us: observe it as the waiting path below does, or its failure (a shared pull or
    // image transfer whose caller left before it got here) would be an unhandled rejection, ending the daemon.
    work.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** The signal's reason when it is an Error, else an AbortError (so callers can always read .name/.message). */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  return Object.assign(new Error('the operation was aborted'), { name: 'AbortError' });
}
