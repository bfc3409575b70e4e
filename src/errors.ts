/**
 * Error kinds used everywhere in crimux. Code throws these; exactly one place (src/cri/errors.ts) turns a kind
 * into a gRPC status code. Messages read "verb object: detail", e.g. "create container web: image not found".
 */

/** Base class: every crimux error has a kind and may carry a cause and readonly context. */
export abstract class CrimuxError extends Error {
  abstract readonly kind: ErrorKind;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}

export type ErrorKind =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'Unimplemented'
  | 'DeadlineExceeded'
  | 'ResourceExhausted'
  | 'PermissionDenied'
  | 'Internal';

/** Thrown when an ID, name or image does not exist (CRI: Status of an unknown object). */
export class NotFoundError extends CrimuxError {
  readonly kind = 'NotFound' as const;
}

/** Thrown when a create would duplicate an existing object (same pod name/attempt, same container name). */
export class AlreadyExistsError extends CrimuxError {
  readonly kind = 'AlreadyExists' as const;
}

/** Thrown when a request field is malformed or names something that is not configured. */
export class InvalidArgumentError extends CrimuxError {
  readonly kind = 'InvalidArgument' as const;
}

/** Thrown when the request is valid but the object is in the wrong state (e.g. start of a running container). */
export class FailedPreconditionError extends CrimuxError {
  readonly kind = 'FailedPrecondition' as const;
}

/** Thrown when a backend (daemon, binary, VM) cannot be reached right now; callers may retry. */
export class UnavailableError extends CrimuxError {
  readonly kind = 'Unavailable' as const;
}

/** Thrown when no backend implements an operation; the kubelet relies on this code (e.g. to fall back to cAdvisor). */
export class UnimplementedError extends CrimuxError {
  readonly kind = 'Unimplemented' as const;
}

/** Thrown when an operation's own deadline (not the caller's) ran out, e.g. an ExecSync timeout. */
export class DeadlineExceededError extends CrimuxError {
  readonly kind = 'DeadlineExceeded' as const;
}

/** Thrown when a configured limit (sizes, counts) would be exceeded. */
export class ResourceExhaustedError extends CrimuxError {
  readonly kind = 'ResourceExhausted' as const;
}

/** Thrown when a policy forbids the request (e.g. a namespace may not choose a handler). */
export class PermissionDeniedError extends CrimuxError {
  readonly kind = 'PermissionDenied' as const;
}

/** Thrown for broken invariants and unexpected host failures. */
export class InternalError extends CrimuxError {
  readonly kind = 'Internal' as const;
}

/** The kind of any thrown value; non-crimux errors are Internal, an aborted signal is DeadlineExceeded. */
export function errorKind(err: unknown): ErrorKind {
  if (err instanceof CrimuxError) return err.kind;
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) return 'DeadlineExceeded';
  return 'Internal';
}

/** A readable message for any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? describeError(err) : String(err);
}

/** A cause chain deeper than this is cut: it is a loop or a pathological error, not information. */
const MAX_CAUSES = 8;

/**
 * "outer: inner: root" from an error and its `cause` chain (messages only; stacks are for crash reports), the way
 * Go's wrapped errors read in containerd's logs. A cause whose message the wrapper already quotes is not repeated.
 */
export function describeError(err: Error): string {
  const parts: string[] = [err.message];
  let cause: unknown = err.cause;
  for (let i = 0; cause !== undefined && i < MAX_CAUSES; i++) {
    const m = cause instanceof Error ? cause.message : String(cause);
    if (!(parts.at(-1) ?? '').includes(m)) parts.push(m);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return parts.join(': ');
}
