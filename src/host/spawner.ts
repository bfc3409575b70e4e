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
import { accessSync, chmodSync, constants as fsConstants, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import util from 'node:util';

export type StdioMode = 'pipe' | 'ignore';

export interface SpawnChildOptions {
  /** fds 0–2, and optionally fd 3 (an output: conmon's sync pipe). */
  readonly stdio?: readonly [StdioMode, StdioMode, StdioMode] | readonly [StdioMode, StdioMode, StdioMode, StdioMode];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Its own session (setsid), as Node's `detached`: a terminal's or a harness's signal to our group misses it. */
  readonly detached?: boolean;
}

/** The part of ChildProcess crimux uses; a ChildProcess is one. */
export interface Child extends EventEmitter {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** [stdin, stdout, stderr, fd 3] */
  readonly stdio: readonly (Readable | Writable | null | undefined)[];
  readonly pid?: number | undefined;
  kill(signal?: NodeJS.Signals | number): boolean;
  /** The daemon's event loop no longer waits for this child or its streams. */
  unref(): void;
}

const TOKEN_LEN = 32;
const HELLO_LEN = TOKEN_LEN + 5; // token, u32 id, u8 slot
const REPLY_LEN = 13;
/** The helper's frame limit is 64 MiB; a bigger request (far past ARG_MAX) goes to Node's spawn, which says E2BIG. */
const MAX_FRAME = 60 << 20;
/**
 * How long a connection may take to say who it is, and how long after a child's exit its stdio connections (all
 * made before it started) may take to arrive. Past it the stream is given up: ended, so 'close' still comes.
 */
const STREAM_GRACE_MS = 5_000;
// First name wins: 6 is SIGABRT (not SIGIOT), 29 SIGIO (not SIGPOLL), as Node reports them.
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>();
for (const [name, n] of Object.entries(os.constants.signals)) {
  if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name as NodeJS.Signals);
}

/** Starts `file args…`, through the helper when one runs. Throws (as child_process.spawn does) on NUL bytes. */
export function spawnChild(file: string, args: readonly string[], opts: SpawnChildOptions = {}): Child {
  const stdio = opts.stdio ?? ['pipe', 'pipe', 'pipe'];
  const viaNode = (): Child =>
    nodeSpawn(file, args, { stdio: [...stdio], env: opts.env ?? process.env, cwd: opts.cwd, detached: opts.detached });
  if (!helper) return viaNode();
  const env = Object.entries(opts.env ?? process.env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  const strings = [opts.cwd ?? '', file, file, ...args, ...env];
  if (file === '' || strings.some((s) => s.includes('\0'))) {
    throw new TypeError(`spawn ${JSON.stringify(file)}: empty program or a NUL byte in an argument or env value`);
  }
  const bodies = strings.map((s) => Buffer.from(`${s}\0`));
  if (bodies.reduce((n, b) => n + b.length, 0) > MAX_FRAME) return viaNode();
  return helper.spawn(file, args, stdio, opts.detached === true, 1 + args.length, env.length, bodies);
}

/**
 * Starts the helper; spawnChild uses it from then on. False (and child_process.spawn stays in use) when `binary` is
 * missing or cannot start. Its socket lives in `<runDir>/spawn/` (0700). `onLost` hears, once, why the helper went
 * away while in use.
 */
export async function useSpawnHelper(binary: string, runDir: string, onLost: (why: string) => void): Promise<boolean> {
  try {
    accessSync(binary, fsConstants.X_OK);
  } catch {
    return false;
  }
  await stopSpawnHelper();
  const h = new SpawnHelper(binary, path.join(runDir, 'spawn'), onLost);
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

/** Runs `fn` after `ms`, and after two more event-loop turns, so connections and data already queued go first. */
function afterGrace(ms: number, fn: () => void): NodeJS.Timeout {
  return setTimeout(() => setImmediate(() => setImmediate(fn)), ms);
}

class SpawnHelper {
  private readonly token = Buffer.from(randomBytes(TOKEN_LEN / 2).toString('hex'));
  private readonly children = new Map<number, HelperChild>();
  private readonly server = net.createServer((sock) => this.accept(sock));
  private readonly socketPath: string;
  private proc: ChildProcess | undefined;
  private nextId = 1;
  private replies: Buffer = Buffer.alloc(0);
  private ready: (() => void) | undefined;
  private done = false;
  private running = false;

  constructor(
    private readonly binary: string,
    private readonly socketDir: string,
    private readonly onLost: (why: string) => void,
  ) {
    this.socketPath = path.join(socketDir, 'spawn.sock');
  }

  async start(): Promise<void> {
    // A dir of its own, 0700 before the socket exists: no window where the socket has the umask's mode.
    mkdirSync(this.socketDir, { recursive: true, mode: 0o700 });
    chmodSync(this.socketDir, 0o700);
    rmSync(this.socketPath, { force: true });
    this.server.listen(this.socketPath);
    await once(this.server, 'listening');
    const ready = new Promise<void>((resolve) => (this.ready = resolve));
    const proc = nodeSpawn(this.binary, [this.socketPath], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { CRIMUX_SPAWN_TOKEN: this.token.toString() },
    });
    this.proc = proc;
    proc.stdin?.on('error', () => undefined); // EPIPE once it is gone; 'close' tells
    proc.stdout?.on('data', (b: Buffer) => this.onReplies(b));
    // 'close', not 'exit': every reply it wrote has been read by then.
    const gone = new Promise<never>((_resolve, reject) => {
      proc.on('error', (err) => reject(err));
      proc.on('close', (code, signal) => {
        const why = `${this.binary} exited (${signal ?? `code ${code}`})`;
        reject(new Error(why));
        this.lost(why);
      });
    });
    gone.catch(() => undefined);
    const timer = setTimeout(() => proc.kill('SIGKILL'), STREAM_GRACE_MS);
    await Promise.race([ready, gone]).finally(() => clearTimeout(timer));
    this.running = true;
  }

  async stop(): Promise<void> {
    this.done = true;
    this.server.close();
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'close');
      proc.stdin?.end(); // the helper exits at EOF
      const timer = setTimeout(() => proc.kill('SIGKILL'), 2_000);
      await exited.catch(() => undefined);
      clearTimeout(timer);
    }
    this.failAll('spawn helper stopped');
    rmSync(this.socketPath, { force: true });
  }

  spawn(
    file: string,
    args: readonly string[],
    stdio: readonly StdioMode[],
    detached: boolean,
    argc: number,
    envc: number,
    bodies: Buffer[],
  ): Child {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_fff0 ? 1 : this.nextId + 1;
    const head = Buffer.alloc(22);
    head[0] = 0x53; // 'S'
    head.writeUInt32LE(17 + bodies.reduce((n, b) => n + b.length, 0), 1);
    head.writeUInt32LE(id, 5);
    stdio.forEach((m, i) => (head[9 + i] = m === 'pipe' ? 1 : 0));
    head[13] = detached ? 1 : 0;
    head.writeUInt32LE(argc, 14);
    head.writeUInt32LE(envc, 18);
    const child = new HelperChild(this, id, file, args, stdio);
    this.children.set(id, child);
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
      if (kind === 'R') {
        this.ready?.();
        continue;
      }
      const c = this.children.get(r.readUInt32LE(off + 1));
      const a = r.readUInt32LE(off + 5);
      if (!c) continue;
      if (kind === 'P') c.started(a);
      else if (kind === 'E') c.failed(a);
      else if (kind === 'X') {
        const v = r.readUInt32LE(off + 9);
        c.exited(a === 0 ? v : null, a === 0 ? null : (SIGNAL_NAMES.get(v) ?? null));
      }
    }
    this.replies = this.replies.subarray(off);
  }

  /** A stdio connection: a hello naming its child and slot, then the stream itself. */
  private accept(sock: net.Socket): void {
    sock.on('error', () => undefined); // a reset stream ends like a closed one
    let hello = Buffer.alloc(0);
    const timer = afterGrace(STREAM_GRACE_MS, () => sock.destroy());
    const onData = (b: Buffer): void => {
      hello = Buffer.concat([hello, b]);
      if (hello.length < HELLO_LEN) return;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      const child = this.children.get(hello.readUInt32LE(TOKEN_LEN));
      const slot = hello[TOKEN_LEN + 4] as number;
      if (!timingSafeEqual(hello.subarray(0, TOKEN_LEN), this.token) || !child || slot > 3) {
        sock.destroy();
        return;
      }
      child.attach(slot, sock, hello.subarray(HELLO_LEN));
    };
    sock.on('data', onData);
  }

  /** Children not yet exited get an error: their exit will never be reported. */
  private failAll(why: string): void {
    for (const c of [...this.children.values()]) c.lost(why);
    this.children.clear();
  }

  private lost(why: string): void {
    if (helper === this) helper = undefined;
    if (this.done || !this.running) return;
    this.done = true;
    this.server.close();
    rmSync(this.socketPath, { force: true });
    this.failAll(`spawn helper lost: ${why}`);
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
  /** Slots whose connection arrived. */
  private readonly attached = new Set<number>();
  private readonly expected: number[];
  /** Arrived connections not yet closed; the id stays routable until every expected one arrived and closed. */
  private socketsOpen = 0;
  private closed = false;
  private readonly fd3: PassThrough | null;
  private readonly sockets: net.Socket[] = [];
  private unrefed = false;

  constructor(
    private readonly owner: SpawnHelper,
    private readonly id: number,
    private readonly file: string,
    private readonly args: readonly string[],
    stdio: readonly StdioMode[],
  ) {
    super();
    this.expected = [0, 1, 2, 3].filter((i) => stdio[i] === 'pipe');
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
    this.fd3 = output(3);
  }

  get stdio(): (Readable | Writable | null)[] {
    return [this.stdin, this.stdout, this.stderr, this.fd3];
  }

  unref(): void {
    this.unrefed = true;
    for (const sock of this.sockets) sock.unref();
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exit || this.closed) return false;
    const n = typeof signal === 'number' ? signal : os.constants.signals[signal];
    if (n === undefined) throw new TypeError(`unknown signal ${signal}`);
    this.owner.kill(this.id, n);
    return true;
  }

  attach(slot: number, sock: net.Socket, early: Buffer): void {
    if (this.attached.has(slot)) return void sock.destroy();
    this.attached.add(slot);
    this.socketsOpen++;
    this.sockets.push(sock);
    if (this.unrefed) sock.unref();
    sock.once('close', () => {
      this.socketsOpen--;
      this.maybeForget();
    });
    if (slot === 0) {
      if (!this.stdin || this.stdin.destroyed) return void sock.destroy();
      this.stdin.attach(sock);
      return;
    }
    const out = this.output(slot);
    if (!out || out.destroyed) return void sock.destroy();
    // Whoever destroys the output (a caller, a failed start) closes the connection: the child gets EPIPE, as
    // with a pipe, instead of blocking on a full socket nobody reads.
    out.once('close', () => sock.destroy());
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

  /** Not started: an 'error' with the exec's errno, then 'close' with -errno, as Node reports it (no 'exit'). */
  failed(errno: number): void {
    const code = util.getSystemErrorName(-errno);
    this.fail(new Error(`spawn ${this.file} ${code}`), { errno: -errno, code }, [-errno, null]);
  }

  /** The helper went away before this child's exit was reported: it may run on; its end is unknown. */
  lost(why: string): void {
    if (this.exit) {
      this.owner.forget(this.id);
      return;
    }
    this.fail(new Error(why), { code: 'ECHILD' }, [null, null]);
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exit) return;
    this.exit = [code, signal];
    this.emit('exit', code, signal);
    // As Node does at exit: output nobody reads is drained, so 'close' comes (a 'readable' reader keeps control).
    for (const s of [this.stdout, this.stderr, this.fd3]) if (s && s.listenerCount('readable') === 0) s.resume();
    // Every connection was made before the child started; one that has not come by now is given up.
    if (this.attached.size < this.expected.length) afterGrace(STREAM_GRACE_MS, () => this.giveUpMissing());
    this.maybeClose();
    this.maybeForget();
  }

  private fail(err: Error, props: object, exit: [number | null, NodeJS.Signals | null]): void {
    this.owner.forget(this.id);
    this.exit = exit;
    Object.assign(err, props, { syscall: `spawn ${this.file}`, path: this.file, spawnargs: [...this.args] });
    for (const s of [this.stdin, this.stdout, this.stderr, this.fd3]) s?.destroy();
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.maybeClose();
  }

  private giveUpMissing(): void {
    for (const slot of this.expected) {
      if (this.attached.has(slot)) continue;
      this.attached.add(slot);
      if (slot === 0) this.stdin?.destroy();
      const out = this.output(slot);
      if (out && !out.writableEnded) out.end();
    }
    this.maybeForget();
  }

  private output(slot: number): PassThrough | null {
    return slot === 1 ? this.stdout : slot === 2 ? this.stderr : slot === 3 ? this.fd3 : null;
  }

  private maybeForget(): void {
    if (this.exit && this.socketsOpen === 0 && this.attached.size === this.expected.length) this.owner.forget(this.id);
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
