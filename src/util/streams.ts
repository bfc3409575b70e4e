/**
 * Error handling for every stream and emitter crimux creates or receives (issue #27).
 *
 * An EventEmitter that emits 'error' with no listener throws, and from a stream callback that ends the process:
 * one port-forward to a docker pod took the daemon down because destroying a `Duplex.from()` relay emits an
 * AbortError. The rule: whoever creates or receives a stream calls `handleErrors` on it right there, and
 * teardown goes through `destroyQuietly`. A failure then shows up where it matters — as a rejected promise,
 * an 'end'/'close', a failed call — and the stray 'error' event is only logged.
 */
import type { EventEmitter } from 'node:events';

/** The part of the project logger these helpers use (kept structural so any Logger fits). */
export interface ErrorLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
}

/** Anything that can emit 'error' (streams, sockets, child processes, WebSocket objects, JSON-lines channels). */
type Emitter = Pick<EventEmitter, 'on'>;

/** Emitters that already carry our listener: one per emitter is enough, however often a path is taken. */
const guarded = new WeakSet<object>();

/**
 * Attaches a listener that logs 'error' events (at debug level: the owner learns of the failure through its own
 * path) so they can never become an uncaught exception. Idempotent; returns the emitter for chaining.
 */
export function handleErrors<T extends Emitter | null | undefined>(emitter: T, what: string, log?: ErrorLog): T {
  if (!emitter || guarded.has(emitter)) return emitter;
  guarded.add(emitter);
  emitter.on('error', (err: unknown) => {
    log?.debug(`${what}: stream error`, { error: err instanceof Error ? err.message : String(err) });
  });
  return emitter;
}

/** A child process and each of its pipes: spawn failures, EPIPE on stdin, a reset pipe. */
export function handleChildErrors<T extends Emitter & { readonly stdio: readonly (Emitter | null | undefined)[] }>(
  child: T,
  what: string,
  log?: ErrorLog,
): T {
  handleErrors(child, what, log);
  child.stdio.forEach((pipe, fd) => handleErrors(pipe, `${what} fd ${fd}`, log));
  return child;
}

interface Destroyable extends Emitter {
  destroy(err?: Error): unknown;
}

/**
 * Destroys a stream without the risk of an unhandled 'error' (a `Duplex.from()` stream emits AbortError when
 * destroyed; custom `_destroy` hooks may fail). Idempotent and safe on undefined.
 */
export function destroyQuietly(stream: Destroyable | null | undefined, what = 'stream', log?: ErrorLog): void {
  if (!stream) return;
  handleErrors(stream, what, log);
  stream.destroy();
}
