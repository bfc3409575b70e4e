/**
 * Classifying rkt's output, as rktlet's cli/errors.go did: rkt reports everything as text on a non-zero exit, so
 * the message decides the error kind. The strings are rkt's own (rkt/stop.go, pkg/pod, rkt/app_*.go).
 *
 * stop() treats "already stopped" and "no matches" as success, which is what keeps StopPodSandbox idempotent.
 */
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  NotFoundError,
  type CrimuxError,
} from '../../../errors';

// pod "379ae074-f1ca-4bdc-8493-e7278b00009f" is already stopped
const ALREADY_STOPPED = /pod "[^"]+" is already stopped/;
// stop: cannot get pod: no matches found for "37edaae0-f048-4db5-b3fb-c0de3aa8e9d8"
const STOP_NOT_EXIST = /stop: cannot get pod: no matches found for "[^"]+"/;
// Any command on an unknown UUID (status, rm, app *): pkg/pod's lookup error.
const NO_MATCHES = /no matches found for "[^"]+"/;
// app status/stop/rm/start on an unknown app name.
const NO_APP = /cannot find app "[^"]+"|app "[^"]+" not found|no such app/;
// app add/exec/start on a pod that is not running.
const NOT_RUNNING = /isn't currently running|is not running|pod is not running/;
// app add with a name the pod already has.
const DUPLICATE = /multiple apps with name|app name "[^"]+" already exists/;

/** rktlet's RktStopIsAlreadyStoppedError. */
export function isAlreadyStopped(output: string): boolean {
  return ALREADY_STOPPED.test(output);
}

/** rktlet's RktStopIsNotExistError. */
export function isStopNotExist(output: string): boolean {
  return STOP_NOT_EXIST.test(output);
}

/** The crimux error for a failed rkt command: "rkt <args>: <output>". */
export function classifyRktError(what: string, output: string, code: number): CrimuxError {
  const msg = `${what}: ${output.trim() || `exit status ${code}`}`;
  const context = { exitCode: code };
  if (NO_MATCHES.test(output) || NO_APP.test(output)) return new NotFoundError(msg, { context });
  if (DUPLICATE.test(output)) return new AlreadyExistsError(msg, { context });
  if (NOT_RUNNING.test(output)) return new FailedPreconditionError(msg, { context });
  return new InternalError(msg, { context });
}
