/**
 * Child processes started by the crimux-spawn helper instead of by this process's own fork.
 *
 * Why: libuv starts a child with fork(), whose cost grows with the daemon's resident memory (page tables are
 * copied) and blocks the event loop meanwhile — 5–8 ms per spawn at the daemon's usual 150–250 MiB, paid by every
 * RPC in flight. A pull of 30 small zstd layers spawns 60 processes; a pod start a dozen. The helper
 * (src/host/native/crimux-spawn.c, protocol there) is small and static, so its fork is cheap, and the daemon
 * only writes one message per child. Its stdio streams come back as connections on a private unix socket.
 *
 * `spawnChild` answers like child_process.spawn for what crimux uses (stdio 'pipe' or 'ignore', env, cwd, kill,
 * the spawn/error/exit/close events, ENOENT as an error with that code), and is child_process.spawn itself while
 * no helper runs (unit tests, or after the helper was lost, which is reported once).
 */
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { accessSync, chmodSync, constants as fsConstants, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import util from 'node:util';

export type StdioMode = 'pipe' | 'ignore';

export interface SpawnChildOptions {
  readonly stdio?: readonly [StdioMode, StdioMode, StdioMode];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** The part of ChildProcess crimux uses; a ChildProcess is one. */
export interface Child extends EventEmitter {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly pid?: number | undefined;
  kill(signal?: NodeJS.Signals | number): boolean;
}

const TOKEN_LEN = 32;
const HELLO_LEN = TOKEN_LEN + 5; // token, u32 id, u8 slot
const REPLY_LEN = 13;
const HELLO_TIMEOUT_MS = 5_000;
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** Starts `file args…`, through the helper when one runs. Throws (as child_process.spawn does) on NUL bytes. */
export function spawnChild(file: string, args: readonly string[], opts: SpawnChildOptions = {}): Child {
  const stdio = opts.stdio ?? ['pipe', 'pipe', 'pipe'];
  if (!helper) return nodeSpawn(file, args, { stdio: [...stdio], env: opts.env ?? process.env, cwd: opts.cwd });
  const env = Object.entries(opts.env ?? process.env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  const strings = [opts.cwd ?? '', file, file, ...args, ...env];
  if (file === '' || strings.some((s) => s.includes('\0'))) {
    throw new TypeError(`spawn ${JSON.stringify(file)}: empty program or a NUL byte in an argument or env value`);
  }
  return helper.spawn(file, args, stdio, 1 + args.length, env.length, strings);
}

/**
 * Starts the helper; spawnChild uses it from then on. False (and child_process.spawn stays in use) when `binary` is
 * missing or cannot start. `socketDir` must be private to root: the helper's connections land there. `onLost` hears, once, why the
 * helper went away while in use.
 */
export async function useSpawnHelper(
  binary: string,
  socketDir: string,
  onLost: (why: string) => void,
): Promise<boolean> {
  try {
    accessSync(binary, fsConstants.X_OK);
  } catch {
    return false;
  }
  await stopSpawnHelper();
  const h = new SpawnHelper(binary, path.join(socketDir, 'spawn.sock'), onLost);
  try {
    await h.start();
  } catch {
    await h.stop(); // e.g. a socket path too long for sun_path: Node's spawn stays in use
    return false;
  }
  helper = h;
  return true;
}

/** Stops the helper (children it started run on, as they would under Node); spawnChild falls back. */
export async function stopSpawnHelper(): Promise<void> {
  const h = helper;
  helper = undefined;
  await h?.stop();
}

let helper: SpawnHelper | undefined;

class SpawnHelper {
  private readonly token = Buffer.from(randomBytes(TOKEN_LEN / 2).toString('hex'));
  private readonly children = new Map<number, HelperChild>();
  private readonly server = net.createServer((sock) => this.accept(sock));
  private proc: ChildProcess | undefined;
  private nextId = 1;
  private replies: Buffer = Buffer.alloc(0);
  private stopping = false;
  private running = false;

  constructor(
    private readonly binary: string,
    private readonly socketPath: string,
    private readonly onLost: (why: string) => void,
  ) {}

  async start(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    this.server.listen(this.socketPath);
    await once(this.server, 'listening');
    chmodSync(this.socketPath, 0o600);
    const proc = nodeSpawn(this.binary, [this.socketPath], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { CRIMUX_SPAWN_TOKEN: this.token.toString() },
    });
    this.proc = proc;
    proc.stdin?.on('error', () => undefined); // EPIPE once it is gone; 'exit' tells
    proc.stdout?.on('data', (b: Buffer) => this.onReplies(b));
    proc.on('error', (err) => this.lost(`cannot run ${this.binary}: ${err.message}`));
    proc.on('exit', (code, signal) => this.lost(`${this.binary} exited (${signal ?? `code ${code}`})`));
    await once(proc, 'spawn');
    this.running = true;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.server.close();
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.stdin?.end(); // the helper exits at EOF
      const timer = setTimeout(() => proc.kill('SIGKILL'), 2_000);
      await exited.catch(() => undefined);
      clearTimeout(timer);
    }
    rmSync(this.socketPath, { force: true });
  }

  spawn(
    file: string,
    args: readonly string[],
    stdio: readonly StdioMode[],
    argc: number,
    envc: number,
    strings: readonly string[],
  ): Child {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_fff0 ? 1 : this.nextId + 1;
    const child = new HelperChild(this, id, file, args, stdio);
    this.children.set(id, child);
    const bodies = strings.map((s) => Buffer.from(`${s}\0`));
    const head = Buffer.alloc(20);
    head[0] = 0x53; // 'S'
    head.writeUInt32LE(15 + bodies.reduce((n, b) => n + b.length, 0), 1);
    head.writeUInt32LE(id, 5);
    stdio.forEach((m, i) => (head[9 + i] = m === 'pipe' ? 1 : 0));
    head.writeUInt32LE(argc, 12);
    head.writeUInt32LE(envc, 16);
    this.proc?.stdin?.write(Buffer.concat([head, ...bodies]));
    return child;
  }

  kill(id: number, signal: number): void {
    const msg = Buffer.alloc(13);
    msg[0] = 0x4b; // 'K'
    msg.writeUInt32LE(8, 1);
    msg.writeUInt32LE(id, 5);
    msg.writeUInt32LE(signal, 9);
    this.proc?.stdin?.write(msg);
  }

  forget(id: number): void {
    this.children.delete(id);
  }

  private onReplies(b: Buffer): void {
    this.replies = this.replies.length === 0 ? b : Buffer.concat([this.replies, b]);
    let off = 0;
    for (; this.replies.length - off >= REPLY_LEN; off += REPLY_LEN) {
      const r = this.replies;
      const kind = String.fromCharCode(r[off] as number);
      const id = r.readUInt32LE(off + 1);
      const a = r.readUInt32LE(off + 5);
      const c = this.children.get(id);
      if (!c) continue;
      if (kind === 'P') c.started(a);
      else if (kind === 'E') c.failed(a);
      else if (kind === 'X') {
        const v = r.readUInt32LE(off + 9);
        c.exited(a === 0 ? v : null, a === 0 ? null : (SIGNAL_NAMES.get(v) ?? 'SIGKILL'));
      }
    }
    this.replies = this.replies.subarray(off);
  }

  /** A stdio connection: a hello naming its child and slot, then the stream itself. */
  private accept(sock: net.Socket): void {
    sock.on('error', () => undefined); // a reset stream ends like a closed one
    let hello = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(), HELLO_TIMEOUT_MS);
    const onData = (b: Buffer): void => {
      hello = Buffer.concat([hello, b]);
      if (hello.length < HELLO_LEN) return;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      const child = this.children.get(hello.readUInt32LE(TOKEN_LEN));
      const slot = hello[TOKEN_LEN + 4] as number;
      if (!timingSafeEqual(hello.subarray(0, TOKEN_LEN), this.token) || !child || slot > 2) {
        sock.destroy();
        return;
      }
      child.attach(slot, sock, hello.subarray(HELLO_LEN));
    };
    sock.on('data', onData);
  }

  private lost(why: string): void {
    if (helper === this) helper = undefined;
    if (this.stopping || !this.running) return;
    this.stopping = true;
    this.server.close();
    rmSync(this.socketPath, { force: true });
    for (const c of this.children.values()) c.failed(0, `spawn helper lost: ${why}`);
    this.children.clear();
    this.onLost(why);
  }
}

class HelperChild extends EventEmitter implements Child {
  readonly stdin: StdinWriter | null;
  readonly stdout: PassThrough | null;
  readonly stderr: PassThrough | null;
  pid: number | undefined;
  private exit: [number | null, NodeJS.Signals | null] | undefined;
  /** Output streams not yet ended (Node's 'close' waits for them, stdin excluded). */
  private outputsOpen = 0;
  /** Connections the helper made that have not arrived or not closed; the id stays routable until then. */
  private socketsOpen = 0;
  private closed = false;

  constructor(
    private readonly owner: SpawnHelper,
    private readonly id: number,
    private readonly file: string,
    private readonly args: readonly string[],
    stdio: readonly StdioMode[],
  ) {
    super();
    this.socketsOpen = stdio.filter((m) => m === 'pipe').length;
    this.stdin = stdio[0] === 'pipe' ? new StdinWriter() : null;
    const output = (i: number): PassThrough | null => {
      if (stdio[i] !== 'pipe') return null;
      this.outputsOpen++;
      const s = new PassThrough();
      s.once('close', () => {
        this.outputsOpen--;
        this.maybeClose();
      });
      return s;
    };
    this.stdout = output(1);
    this.stderr = output(2);
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exit || this.closed) return false;
    const n = typeof signal === 'number' ? signal : os.constants.signals[signal];
    if (n === undefined) throw new TypeError(`unknown signal ${signal}`);
    this.owner.kill(this.id, n);
    return true;
  }

  attach(slot: number, sock: net.Socket, early: Buffer): void {
    sock.once('close', () => {
      this.socketsOpen--;
      if (this.socketsOpen === 0 && this.exit) this.owner.forget(this.id);
    });
    if (slot === 0) {
      if (!this.stdin || this.stdin.destroyed) return void sock.destroy();
      this.stdin.attach(sock);
      return;
    }
    const out = slot === 1 ? this.stdout : this.stderr;
    if (!out) return void sock.destroy();
    if (early.length > 0) out.write(early);
    sock.pipe(out);
    sock.once('close', () => {
      if (!out.writableEnded) out.end(); // a reset socket does not end its pipe destination
    });
  }

  started(pid: number): void {
    this.pid = pid;
    this.emit('spawn');
  }

  /** Not started (errno), or lost with the helper (errno 0 and a reason). */
  failed(errno: number, reason?: string): void {
    this.owner.forget(this.id);
    const code = errno ? util.getSystemErrorName(-errno) : 'ECHILD';
    const err = Object.assign(new Error(reason ?? `spawn ${this.file} ${code}`), {
      errno: -errno,
      code,
      syscall: `spawn ${this.file}`,
      path: this.file,
      spawnargs: [...this.args],
    });
    for (const s of [this.stdin, this.stdout, this.stderr]) s?.destroy();
    this.emit('error', err);
    this.exited(errno ? -errno : null, errno ? null : 'SIGKILL');
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exit) return;
    this.exit = [code, signal];
    if (this.socketsOpen === 0) this.owner.forget(this.id);
    this.emit('exit', code, signal);
    // As Node does at exit: output nobody reads is drained, so 'close' comes (a 'readable' reader keeps control).
    for (const s of [this.stdout, this.stderr]) if (s && s.listenerCount('readable') === 0) s.resume();
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.closed || !this.exit || this.outputsOpen > 0) return;
    this.closed = true;
    this.emit('close', ...this.exit);
  }
}

/**
 * The child's stdin before and after its connection arrives: writes wait for it, and a write or end() completes
 * only once the socket took the bytes — so a writer that destroys stdin after end() (as a finished pipeline does)
 * loses nothing, as with a pipe. When the child closes it, writers see 'close' (a closed pipe's EPIPE, quietly).
 */
class StdinWriter extends Writable {
  private sock: net.Socket | undefined;
  private whenAttached: (() => void) | undefined;
  private pending: (() => void) | undefined;

  attach(sock: net.Socket): void {
    this.sock = sock;
    sock.resume(); // the child never writes here; reading is how its close is seen
    sock.once('close', () => {
      const cb = this.pending;
      this.pending = undefined;
      cb?.();
      this.destroy();
    });
    const go = this.whenAttached;
    this.whenAttached = undefined;
    go?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.withSocket((sock) => {
      if (sock.destroyed || sock.write(chunk)) return cb();
      this.pending = () => cb();
      sock.once('drain', () => {
        const p = this.pending;
        this.pending = undefined;
        p?.();
      });
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.withSocket((sock) => (sock.destroyed ? cb() : sock.end(() => cb())));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.whenAttached = undefined;
    this.sock?.destroy();
    cb(err);
  }

  private withSocket(fn: (sock: net.Socket) => void): void {
    if (this.sock) fn(this.sock);
    else this.whenAttached = () => fn(this.sock as net.Socket);
  }
}
