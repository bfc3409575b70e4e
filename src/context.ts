/**
 * CallContext: passed to every backend and store call — an AbortSignal (the caller's deadline or the daemon's
 * shutdown) and a logger that already carries the pod/container/backend fields.
 */
import type { Logger } from './log/logger';

export interface CallContext {
  readonly signal: AbortSignal;
  readonly log: Logger;
}
