/**
 * Running short-lived host commands (runc, ip, …) with a bounded wait and captured output.
 *
 * Every host CLI call in crimux goes through runCommand so that a hung binary can never hang an RPC: the caller's
 * AbortSignal and an explicit timeout both kill the child, and output is capped so a chatty tool cannot exhaust
 * memory.
 */
import { DeadlineExceededError, UnavailableError } from '../errors';
import { spawnChild } from './spawner';

export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Kill the child after this many milliseconds (default 60 s). */
  readonly timeoutMs?: number;
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Cap per stream; the rest is dropped (default 4 MiB). */
  readonly maxOutputBytes?: number;
}

export interface RunResult {
  /** Exit code, or 128 + signal number when the child was killed by a signal. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGQUIT: 3 };

/** Runs `file args…` to completion. Throws UnavailableError when it cannot start, DeadlineExceeded on timeout. */
export function runCommand(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const cap = opts.maxOutputBytes ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new DeadlineExceededError(`run ${file}: cancelled before start`, { cause: opts.signal.reason }));
      return;
    }
    const child = spawnChild(file, args, { env: opts.env, cwd: opts.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let killedFor: string | undefined;
    child.stdout?.on('data', (b: Buffer) => {
      if (outLen < cap) out.push(b);
      outLen += b.length;
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (errLen < cap) err.push(b);
      errLen += b.length;
    });
    const kill = (why: string): void => {
      killedFor = why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(`timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = (): void => kill('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (e: Error) => {
      done();
      reject(new UnavailableError(`run ${file}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      done();
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (killedFor) {
        reject(new DeadlineExceededError(`run ${file} ${args.join(' ')}: ${killedFor}`, { context: { stderr } }));
        return;
      }
      resolve({ code: code ?? 128 + (SIGNAL_NUMBERS[sig ?? ''] ?? 0), stdout, stderr });
    });
    // A child that exits without reading stdin would raise EPIPE here; the exit status tells the real story.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}
