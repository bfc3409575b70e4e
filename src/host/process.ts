/**
 * Running short-lived host commands (runc, ip, iptables, nsenter, mount, CNI plugins, …) with a bounded wait and
 * captured output: the one way crimux runs a command to completion.
 *
 * A hung binary can never hang an RPC: the caller's AbortSignal and a timeout (60 s unless given) both kill the
 * child, and output is capped so a chatty tool cannot exhaust memory. A non-zero exit is a result, not an error,
 * so callers decide what an exit code means (iptables -C exits 1 for "no such rule"). Children start through the
 * spawn helper (./spawner.ts), so a large daemon does not fork itself for each.
 */
import { DeadlineExceededError, UnavailableError } from '../errors';
import { exitCodeOf } from './exec-output';
import { spawnChild } from './spawner';

export interface RunOptions {
  /** The caller's deadline or the daemon's shutdown. */
  readonly signal?: AbortSignal;
  /** Kill the child (SIGKILL) after this many milliseconds (default 60 s). */
  readonly timeoutMs?: number;
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string | Buffer;
  /** The child's whole environment; the daemon's own by default. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Cap per stream; the rest is dropped (default 4 MiB). */
  readonly maxOutputBytes?: number;
}

export interface RunResult {
  /** Exit code, or 128 + the signal's number when a signal ended the child (as a shell reports it). */
  readonly code: number;
  /** The signal that ended the child, if one did. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `file args…` to completion. Rejects with UnavailableError when the binary cannot be started (not found, not
 * executable) and with DeadlineExceededError when the timeout or the caller's signal ends the run first.
 */
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
      if (outLen < cap) out.push(b.subarray(0, cap - outLen));
      outLen += b.length;
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (errLen < cap) err.push(b.subarray(0, cap - errLen));
      errLen += b.length;
    });
    const kill = (why: string): void => {
      killedFor ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(`timed out after ${timeoutMs} ms`), timeoutMs);
    const onAbort = (): void => kill('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      return true;
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (!settle()) return;
      reject(new UnavailableError(`run ${file}: ${e.message}`, { cause: e })); // e.g. "spawn iptables ENOENT"
    });
    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      if (!settle()) return;
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (killedFor) {
        reject(new DeadlineExceededError(`run ${file} ${args.join(' ')}: ${killedFor}`, { context: { stderr } }));
        return;
      }
      resolve({ code: exitCodeOf(code, sig), signal: sig, stdout, stderr });
    });
    // A child that exits without reading stdin would raise EPIPE here; the exit status tells the real story.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}

/** The first line of a command's stderr (or stdout), for error messages. */
export function firstLine(res: RunResult): string {
  const text = (res.stderr.trim() || res.stdout.trim()).split('\n')[0] ?? '';
  return text || (res.signal ? `killed by ${res.signal}` : `exit code ${res.code}`);
}
