/**
 * A Backend double whose streaming operations are real: exec() spawns a host process, attach() joins a
 * long-running "container" process whose output is fanned out to attachers (like conmon's attach socket), and
 * portForward() dials a TCP server on 127.0.0.1. It keeps count of live processes and sockets so tests can
 * assert that nothing leaks.
 *
 * TTY: `script -qefc CMD /dev/null` (util-linux's script, in Debian's essential bsdutils package, so on every
 * Debian host without extra packages) runs CMD on a fresh pseudo-terminal; -e returns CMD's exit code. Resizing
 * uses `stty -F <pts> rows H cols W` (coreutils, also essential) on the child's terminal, found through
 * /proc/<script pid>/task/<pid>/children and the child's fd 0 — setting the size on the pty makes the kernel
 * send SIGWINCH, exactly as a runtime's TIOCSWINSZ on the master would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { Duplex, PassThrough } from 'node:stream';
import type { CallContext, ProcessStreams, StreamOptions } from '../../../src/backends/backend';
import { NotFoundError } from '../../../src/errors';
import { FakeBackend } from '../../helpers/fake-backend';

export class ProcessBackend extends FakeBackend {
  readonly live = new Set<ChildProcess>();
  readonly sockets = new Set<net.Socket>();
  private readonly running = new Map<string, { proc: ChildProcess; attached: Set<PassThrough> }>();

  constructor(name = 'proc') {
    super(name, 'runc');
  }

  /** Start a long-running "container" process that attach() can join. */
  runContainer(id: string, script: string): ChildProcess {
    const proc = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const attached = new Set<PassThrough>();
    const fan = (d: Buffer): void => attached.forEach((a) => a.write(d));
    proc.stdout?.on('data', fan);
    proc.stderr?.on('data', fan);
    proc.on('exit', () => attached.forEach((a) => a.end()));
    this.track(proc);
    this.running.set(id, { proc, attached });
    return proc;
  }

  override async exec(_ctx: CallContext, _id: string, cmd: string[], opts: StreamOptions): Promise<ProcessStreams> {
    const proc = opts.tty
      ? spawn('script', ['-qefc', cmd.map(shellQuote).join(' '), '/dev/null'], {
          stdio: ['pipe', 'pipe', 'ignore'],
          detached: true,
        })
      : spawn(cmd[0] ?? 'true', cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    // A command that cannot start is an error of exec() itself, as with a real runtime.
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', reject);
    });
    this.track(proc);
    if (!opts.stdin) proc.stdin?.end();
    const exited = new Promise<{ exitCode: number }>((resolve) =>
      proc.once('exit', (code, signal) =>
        resolve({ exitCode: code ?? 128 + (signal ? os.constants.signals[signal] : 0) }),
      ),
    );
    let resizeChain = Promise.resolve();
    return {
      stdin: opts.stdin ? (proc.stdin ?? undefined) : undefined,
      stdout: opts.stdout ? (proc.stdout ?? undefined) : drained(proc.stdout),
      stderr: opts.stderr && !opts.tty ? (proc.stderr ?? undefined) : drained(proc.stderr),
      resize: (size) => {
        if (!opts.tty || !proc.pid) return;
        const pid = proc.pid;
        resizeChain = resizeChain.then(() => resizePty(pid, size)).catch(() => undefined);
      },
      wait: () => exited,
      close: () => killGroup(proc),
    };
  }

  override async attach(_ctx: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams> {
    const c = this.running.get(id);
    if (!c || c.proc.exitCode !== null) throw new NotFoundError(`attach ${id}: no such running container`);
    const view = new PassThrough();
    c.attached.add(view);
    let detach!: () => void;
    const ended = new Promise<{ exitCode: number }>((resolve) => {
      detach = () => {
        c.attached.delete(view);
        view.end();
        resolve({ exitCode: c.proc.exitCode ?? 0 });
      };
      c.proc.once('exit', () => detach());
    });
    // stdin of an attach must not close the container's stdin when this client leaves: write through a proxy.
    const stdin = new PassThrough();
    stdin.on('data', (d: Buffer) => c.proc.stdin?.write(d));
    return {
      stdin: opts.stdin ? stdin : undefined,
      stdout: opts.stdout ? view : drained(view),
      resize: () => undefined,
      wait: () => ended,
      close: () => detach(),
    };
  }

  /**
   * Behave like a backend whose connection is a relay process's pipes (rkt): the Duplex is returned before the
   * connection is made, a refused connection is just an immediate end of output, and it never closes by itself.
   */
  relayLike = false;

  override async portForward(ctx: CallContext, _sandboxId: string, port: number): Promise<Duplex> {
    return this.relayLike ? this.relay(ctx, port) : this.dial(ctx, port);
  }

  private async dial(ctx: CallContext, port: number): Promise<Duplex> {
    const sock = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
      ctx.signal.addEventListener('abort', () => sock.destroy(), { once: true });
    });
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
    return sock;
  }

  private relay(ctx: CallContext, port: number): Duplex {
    let inner: Duplex | undefined;
    const out = new Duplex({
      read: () => undefined,
      write: (c: Buffer, _e, cb) => (inner ? inner.write(c, () => cb()) : cb()),
      final: (cb) => {
        inner?.end();
        cb();
      },
    });
    this.dial(ctx, port).then(
      (sock) => {
        inner = sock;
        sock.on('data', (d: Buffer) => out.push(d));
        sock.on('end', () => out.push(null));
        out.once('close', () => sock.destroy());
      },
      () => out.push(null),
    );
    return out;
  }

  /** Kill everything still running (test cleanup). */
  killAll(): void {
    for (const p of this.live) killGroup(p);
    for (const s of this.sockets) s.destroy();
  }

  private track(proc: ChildProcess): void {
    this.live.add(proc);
    proc.once('exit', () => this.live.delete(proc));
  }
}

function drained(r: NodeJS.ReadableStream | null | undefined): undefined {
  r?.resume();
  return undefined;
}

/** The process group, so children of `sh -c` die too. */
function killGroup(proc: ChildProcess): void {
  if (proc.exitCode !== null || proc.signalCode !== null || !proc.pid) return;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    proc.kill('SIGKILL');
  }
}

async function resizePty(scriptPid: number, size: { width: number; height: number }): Promise<void> {
  // The shell under script may not exist yet right after the start: retry briefly (bounded).
  for (let i = 0; i < 40; i++) {
    try {
      const child = fs.readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(/\s+/)[0];
      if (child) {
        const pts = fs.readlinkSync(`/proc/${child}/fd/0`);
        await new Promise<void>((resolve, reject) =>
          execFile('stty', ['-F', pts, 'rows', String(size.height), 'cols', String(size.width)], (err) =>
            err ? reject(err) : resolve(),
          ),
        );
        return;
      }
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function shellQuote(s: string): string {
  return /^[\w./=:-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
