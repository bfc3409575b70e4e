/**
 * Runs a host command to completion with a bound on time and output. Used by the network code for unshare,
 * nsenter, mount, iptables and CNI plugins; a non-zero exit is a result, not an error, so callers can decide
 * what an exit code means (iptables -C exits 1 for "no such rule").
 */
import { DeadlineExceededError, UnavailableError } from '../errors';
import { spawnChild } from '../host/spawner';

export interface RunOptions {
  /** Written to stdin, which is then closed. */
  readonly input?: string | Buffer;
  /** Full environment of the child; the daemon's own by default. */
  readonly env?: NodeJS.ProcessEnv;
  /** The caller's deadline or the daemon's shutdown. */
  readonly signal?: AbortSignal;
  /** Own bound on the run; the child is killed with SIGKILL when it expires. */
  readonly timeoutMs?: number;
  /** Output beyond this many bytes per stream is dropped (default 4 MiB). */
  readonly maxOutputBytes?: number;
}

export interface RunResult {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024;

/**
 * Run file with args. Rejects with UnavailableError when the binary cannot be executed and with
 * DeadlineExceededError when the timeout or the signal ends the run first (the child is killed).
 */
export function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const what = [file, ...args].join(' ');
  const signals: AbortSignal[] = [];
  if (options.signal) signals.push(options.signal);
  if (options.timeoutMs !== undefined) signals.push(AbortSignal.timeout(options.timeoutMs));
  const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;

  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DeadlineExceededError(`run ${what}: aborted before start`, { cause: signal.reason }));
      return;
    }
    const child = spawnChild(file, args, { env: options.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let aborted = false;
    let settled = false;

    const onAbort = (): void => {
      aborted = true;
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };

    child.stdout?.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b.subarray(0, max - outLen));
      outLen += b.length;
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b.subarray(0, max - errLen));
      errLen += b.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(() => {
        if (e.code === 'ENOENT' || e.code === 'EACCES') {
          reject(
            new UnavailableError(`run ${file}: ${e.code === 'ENOENT' ? 'not found' : 'not executable'}`, { cause: e }),
          );
        } else {
          reject(e);
        }
      });
    });
    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      finish(() => {
        if (aborted) {
          const reason: unknown = signal?.reason;
          const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
          reject(
            new DeadlineExceededError(
              `run ${what}: ${timedOut ? `timed out after ${options.timeoutMs} ms` : 'aborted'}`,
              { cause: reason },
            ),
          );
          return;
        }
        resolve({
          code,
          signal: sig,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      });
    });
    // A child that exits without reading stdin makes the write fail with EPIPE; its exit status tells the story.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

/** The first line of a command's stderr (or stdout), for error messages. */
export function firstLine(res: RunResult): string {
  const text = (res.stderr.trim() || res.stdout.trim()).split('\n')[0] ?? '';
  return text || (res.signal ? `killed by ${res.signal}` : `exit code ${res.code}`);
}
