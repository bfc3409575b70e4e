/**
 * Fan-out of a call to every backend with a per-backend deadline. One failing or slow backend never fails the
 * whole call: its result is reported as failed and the caller decides what stands in (the last-known snapshot
 * for lists, nothing for stats).
 */
import type { Backend, CallContext } from '../backends/backend';
import { DeadlineExceededError, errorMessage } from '../errors';

export type FanoutResult<T> =
  | { readonly backend: Backend; readonly ok: true; readonly value: T }
  | { readonly backend: Backend; readonly ok: false; readonly error: unknown };

export async function fanout<T>(
  backends: readonly Backend[],
  ctx: CallContext,
  timeoutMs: number,
  call: (backend: Backend, ctx: CallContext) => Promise<T>,
): Promise<FanoutResult<T>[]> {
  const settled = await Promise.allSettled(
    backends.map((b) => withDeadline(ctx, timeoutMs, `${b.name}`, (sub) => call(b, sub))),
  );
  return settled.map((s, i) => {
    const backend = backends[i] as Backend;
    if (s.status === 'fulfilled') return { backend, ok: true, value: s.value };
    ctx.log.warn('backend call failed in fan-out', { backend: backend.name, error: errorMessage(s.reason) });
    return { backend, ok: false, error: s.reason };
  });
}

/** Runs fn with a child signal that aborts at the parent's abort or after timeoutMs, whichever comes first. */
export async function withDeadline<T>(
  ctx: CallContext,
  timeoutMs: number,
  what: string,
  fn: (ctx: CallContext) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new DeadlineExceededError(`${what}: no answer within ${timeoutMs} ms`);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    return await Promise.race([fn({ signal: controller.signal, log: ctx.log }), deadline]);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}
