/**
 * Errors across a worker thread's message port. Structured clone keeps `message` but drops the class and own
 * properties like `code`, which is what the pull classifies failures by, so they are carried explicitly.
 */
import {
  CrimuxError,
  InternalError,
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
  UnimplementedError,
  type ErrorKind,
} from '../errors';

export interface WireError {
  readonly message: string;
  readonly name?: string;
  readonly code?: string;
  readonly kind?: ErrorKind;
}

export function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { message: String(err) };
  const code = (err as NodeJS.ErrnoException).code;
  return {
    message: err.message,
    name: err.name,
    code: typeof code === 'string' ? code : undefined,
    kind: err instanceof CrimuxError ? err.kind : undefined,
  };
}

const BY_KIND: Partial<Record<ErrorKind, new (message: string) => CrimuxError>> = {
  Internal: InternalError,
  InvalidArgument: InvalidArgumentError,
  ResourceExhausted: ResourceExhaustedError,
  Unavailable: UnavailableError,
  Unimplemented: UnimplementedError,
};

export function fromWire(w: WireError): Error {
  const Kind = w.kind && BY_KIND[w.kind];
  if (Kind) return new Kind(w.message);
  const err = Object.assign(new Error(w.message), w.code === undefined ? {} : { code: w.code });
  if (w.name) err.name = w.name;
  return err;
}
