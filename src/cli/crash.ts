/**
 * The daemon's last words (issue #27): an uncaught exception or unhandled rejection is logged with its stack
 * through the project logger, at error level, and the process exits non-zero so the service manager restarts it
 * (deploy/installer/crimux.service: Restart=always). We do not keep running: after an exception escaped, the
 * state of whatever it interrupted is unknown, and a fresh daemon reconciles from the ownership store.
 */
import type { Logger } from '../log/logger';

/** The exit code after a crash (1: runtime failure, as for any failed command). */
export const CRASH_EXIT_CODE = 1;

/** Installs the handlers; call first thing at start-up. Returns a function that removes them (tests). */
export function installCrashHandlers(
  log: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  let crashed = false;
  const crash = (kind: string, reason: unknown): void => {
    // A second failure while we report the first must not loop or hide the first one.
    if (crashed) return;
    crashed = true;
    const err = reason instanceof Error ? reason : new Error(`non-error value: ${String(reason)}`);
    try {
      log.error(`crimux crashed: ${kind}; exiting`, {
        error: err.message,
        errorName: err.name,
        stack: err.stack ?? '(no stack)',
      });
    } finally {
      // stderr is synchronous for files, pipes and the journal's socket on Linux: the line is out before we go.
      exit(CRASH_EXIT_CODE);
    }
  };
  const onException = (err: unknown, origin: string): void =>
    crash(origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception', err);
  const onRejection = (reason: unknown): void => crash('unhandled rejection', reason);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
