/**
 * The one place where crimux error kinds become gRPC status codes. Nothing else in the code base chooses a code.
 */
import { status } from '@grpc/grpc-js';
import { errorKind, errorMessage, type ErrorKind } from '../errors';

const CODES: Record<ErrorKind, status> = {
  NotFound: status.NOT_FOUND,
  AlreadyExists: status.ALREADY_EXISTS,
  InvalidArgument: status.INVALID_ARGUMENT,
  FailedPrecondition: status.FAILED_PRECONDITION,
  Unavailable: status.UNAVAILABLE,
  Unimplemented: status.UNIMPLEMENTED,
  DeadlineExceeded: status.DEADLINE_EXCEEDED,
  ResourceExhausted: status.RESOURCE_EXHAUSTED,
  PermissionDenied: status.PERMISSION_DENIED,
  Internal: status.INTERNAL,
};

export interface GrpcError {
  code: status;
  details: string;
}

export function toGrpcError(err: unknown): GrpcError {
  return { code: CODES[errorKind(err)], details: errorMessage(err) };
}

/** The status code's name, for metrics labels ("OK", "NOT_FOUND", …). */
export function codeName(code: status): string {
  return status[code] ?? String(code);
}
