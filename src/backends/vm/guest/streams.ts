/**
 * Byte streams between host and guest, keyed by stream id: TCP connections for port-forward (`connect`) and
 * interactive processes (`spawn`). Output goes out as `data` events, the end as a `closed` event; the host sends
 * `data`, `close` (EOF) and `kill`.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import type { Writable } from 'node:stream';
import type { Event } from '../protocol';
import { execDone, killExec, type ExecCommand } from './exec';
import { exitCodeOf } from '../../../host/exec-output';

interface Handle {
  write(b: Buffer): void;
  end(): void;
  kill(): void;
  resize?(rows: number, cols: number): void;
}

export class Streams {
  private next = 1;
  private readonly open = new Map<number, Handle>();

  constructor(private readonly emit: (e: Event) => void) {}

  connect(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const sid = this.next++;
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.once('connect', () => {
        this.open.set(sid, { write: (b) => sock.write(b), end: () => sock.end(), kill: () => sock.destroy() });
        resolve(sid);
      });
      sock.once('error', (err) => {
        if (!this.open.has(sid)) reject(err);
        else this.emit({ ev: 'closed', sid, error: err.message });
        this.open.delete(sid);
      });
      sock.on('data', (b: Buffer) => this.emit({ ev: 'data', sid, data: b.toString('base64') }));
      sock.on('close', () => {
        if (this.open.delete(sid)) this.emit({ ev: 'closed', sid });
      });
    });
  }

  /**
   * Run an exec command (exec.ts) as an interactive process in its own process group (kill ends the whole group,
   * including the forked child in the container's PID namespace).
   */
  spawn(cmd: ExecCommand, stdin: boolean, tty: boolean): number {
    const { env } = cmd;
    const sid = this.next++;
    // With a terminal (runc's, through the console bridge) fd 3 carries resizes; without one, a tty exec gets its
    // stderr merged into stdout. The bridge's own stderr is runc's diagnostics: shown on the terminal as runc would.
    const pty = cmd.terminal === true;
    const mergeStderr = tty;
    const child = spawn(cmd.file, cmd.argv, {
      env,
      stdio: [stdin || pty ? 'pipe' : 'ignore', 'pipe', 'pipe', pty ? 'pipe' : 'ignore'],
      detached: true,
    });
    const resizer = child.stdio[3] as Writable | null | undefined;
    resizer?.on('error', () => undefined);
    // The client going away must end the exec'd process itself, not only runc's proxy (killExec).
    const killGroup = (): void => killExec(cmd, child);
    this.open.set(sid, {
      write: (b) => child.stdin?.write(b),
      end: () => child.stdin?.end(),
      kill: killGroup,
      resize: (rows, cols) => resizer?.write(`${rows} ${cols}\n`),
    });
    child.stdin?.on('error', () => undefined); // EPIPE after the process exited
    child.stdout?.on('data', (b: Buffer) =>
      this.emit({ ev: 'data', sid, stream: 'stdout', data: b.toString('base64') }),
    );
    child.stderr?.on('data', (b: Buffer) =>
      this.emit({ ev: 'data', sid, stream: mergeStderr ? 'stdout' : 'stderr', data: b.toString('base64') }),
    );
    let done = false;
    const finish = (exitCode: number, error?: string): void => {
      if (done) return;
      done = true;
      execDone(cmd);
      this.open.delete(sid);
      this.emit({ ev: 'closed', sid, exitCode, error });
    };
    child.on('close', (code, signal) => finish(exitCodeOf(code, signal)));
    child.on('error', (err) => finish(127, err.message));
    return sid;
  }

  write(sid: number, data: string): void {
    this.open.get(sid)?.write(Buffer.from(data, 'base64'));
  }

  close(sid: number): void {
    this.open.get(sid)?.end();
  }

  kill(sid: number): void {
    this.open.get(sid)?.kill();
  }

  resize(sid: number, rows: number, cols: number): void {
    this.open.get(sid)?.resize?.(rows, cols);
  }
}
