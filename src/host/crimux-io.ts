/**
 * Driving crimux-io (native/crimux-io.c, built by scripts/build-native.sh): the bridge to conmon's attach socket
 * (SOCK_SEQPACKET) and to runc's console socket (the pty master arrives as an SCM_RIGHTS fd), both out of Node's
 * reach. Each session is one helper process; killing it ends the session (conmon sees the client leave, the
 * terminal's master is closed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, constants as fsc } from 'node:fs';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { UnavailableError } from '../errors';
import { handleChildErrors } from '../util/streams';

export interface HelperSession {
  readonly child: ChildProcess;
  readonly stdin?: Writable;
  readonly stdout?: Readable;
  readonly stderr?: Readable;
  /** Resolves with the helper's exit code (console: the exec'd process's) once it exited and its output ended. */
  readonly exited: Promise<number>;
  /** Diagnostics the helper (or runc) wrote, for error messages. */
  diagnostics(): string;
}

/** Fails the call up front (not mid-session) when the helper was never built. */
export async function requireHelper(helper: string): Promise<void> {
  try {
    await fs.access(helper, fsc.X_OK);
  } catch (e) {
    throw new UnavailableError(`${helper} is missing: build it with scripts/build-native.sh`, { cause: e });
  }
}

/** conmon's stream types in the first byte of each attach-socket packet (conmon's STDOUT_PIPE / STDERR_PIPE). */
const STDOUT = 2;
const STDERR = 3;

/**
 * Attaches to conmon's attach socket. `stdin`: keep a writable for the container's stdin (when absent the helper's
 * stdin still stays open: closing it would make conmon close a stdin_once container's stdin).
 */
export function attachSocket(
  helper: string,
  socket: string,
  want: { stdin: boolean; stdout: boolean; stderr: boolean },
): HelperSession {
  const child = spawn(helper, ['attach', socket], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout = want.stdout ? new PassThrough() : undefined;
  const stderr = want.stderr ? new PassThrough() : undefined;
  let pending: Buffer = Buffer.alloc(0);
  // Frames: [u32 BE length][type byte + data] (see the helper's header).
  child.stdout!.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 4) {
      const len = pending.readUInt32BE(0);
      if (pending.length < 4 + len) break;
      const type = pending[4];
      const data = pending.subarray(5, 4 + len);
      pending = pending.subarray(4 + len);
      if (type === STDOUT) stdout?.write(data);
      else if (type === STDERR) stderr?.write(data);
    }
  });
  child.stdout!.on('end', () => {
    stdout?.end();
    stderr?.end();
  });
  return session(child, { stdin: want.stdin ? child.stdin! : undefined, stdout, stderr });
}

/**
 * Runs `argv` (a detached `runc exec` with `--console-socket socket --pid-file pidFile`) behind the helper, which
 * relays the pty: stdin → terminal, terminal → stdout. resize() writes "rows cols" to the helper's fd 3.
 */
export function consoleExec(
  helper: string,
  socket: string,
  pidFile: string,
  argv: readonly string[],
): HelperSession & { resize(w: number, h: number): void } {
  const child = spawn(helper, ['console', socket, pidFile, ...argv], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  const ctl = child.stdio[3] as Writable;
  ctl.on('error', () => undefined);
  const s = session(child, { stdin: child.stdin!, stdout: child.stdout!, stderr: undefined });
  return {
    ...s,
    resize: (w, h) => {
      if (child.exitCode === null && !ctl.destroyed)
        ctl.write(`${Math.max(0, Math.floor(h))} ${Math.max(0, Math.floor(w))}\n`);
    },
  };
}

function session(child: ChildProcess, io: { stdin?: Writable; stdout?: Readable; stderr?: Readable }): HelperSession {
  const diag: Buffer[] = [];
  child.stderr?.on('data', (b: Buffer) => {
    if (diag.length < 64) diag.push(b);
  });
  handleChildErrors(child, 'crimux-io'); // EPIPE on stdin once the helper exited; the control pipe
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (e) =>
      reject(
        new UnavailableError(`start ${child.spawnfile}: ${e.message} (built by scripts/build-native.sh)`, { cause: e }),
      ),
    );
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 255)));
  });
  return { child, ...io, exited, diagnostics: () => Buffer.concat(diag).toString('utf8').trim() };
}
