/**
 * Running one OCI container (a pause or an application container) under conmon with a handler's runtime: create,
 * start, stop with a grace period, and destroy — the lifecycle both sandboxes and containers share.
 *
 * Live state is derived from conmon's files, never remembered: an exit file means exited (with that code); a
 * live conmon means created or running; with conmon gone and no exit file (conmon was killed), `runc state`
 * decides. This is what lets status and list answer correctly right after a crimux restart.
 */
import { existsSync, promises as fs, watch, type FSWatcher } from 'node:fs';
import { LRUCache } from 'lru-cache';
import * as path from 'node:path';
import { errorMessage, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../errors';
import type { Logger } from '../../log/logger';
import { conmonPaths, processAlive, processStartTime, readExitFile, readPidFile, startConmon } from '../../host/conmon';
import { OciRuntime } from '../../host/oci-runtime';
import type { OciSpec } from '../../host/oci-spec';
import { pollUntil } from '../../host/wait';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Layout } from './layout';
import type { RuncHandlerOptions } from './options';

export type LiveState =
  | { readonly kind: 'created'; readonly pid: number }
  | { readonly kind: 'running'; readonly pid: number }
  | { readonly kind: 'exited'; readonly code: number; readonly finishedAtNs?: bigint; readonly unknownCode?: boolean }
  | { readonly kind: 'unknown' };

export interface LaunchOptions {
  readonly handler: string;
  readonly id: string;
  /** Bundle (with config.json) and conmon persist dir. */
  readonly dir: string;
  readonly logPath?: string;
  readonly tty?: boolean;
  readonly stdin?: boolean;
  readonly stdinOnce?: boolean;
  readonly signal?: AbortSignal;
}

export interface StopOptions {
  readonly handler: string;
  readonly id: string;
  readonly dir: string;
  /** The stop signal (name). */
  readonly signal: string;
  readonly timeoutSeconds: number;
  /** The init process is PID 1 of its own PID namespace: SIGKILL to it ends every process in the container. */
  readonly initOwnsPidNs: boolean;
  readonly log: Logger;
  readonly abort?: AbortSignal;
}

/**
 * A cached monitor is re-verified this often by its start time (PID reuse, a zombie); between two checks, signal 0
 * and the absence of the exit file are enough.
 */
const MONITOR_REVERIFY_MS = 10_000;
/** How long a stopped container's exit code may lag behind the runtime's state (conmon writes it after reaping). */
const EXIT_FILE_GRACE_MS = 2_000;
const EXIT_FILE_POLL_MS = 25;

function signalZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A conmon verified to be the container's (see Engine.state). */
interface Monitor {
  readonly conmonPid: number;
  /** conmon's start time: with the PID, this one process for good (processStartTime). */
  readonly conmonStart: string;
  readonly exitFile: string;
  /** What state() answers while the monitor holds (one object for every relist). */
  readonly live: LiveState;
  verifiedAt: number;
  /**
   * Watches the container directory for conmon's exit file, so a relist need not look for it; absent when the
   * watch could not be set up (then the file is looked for at each relist).
   */
  watcher?: FSWatcher;
  /** The watcher saw the exit file appear. */
  exitSeen: boolean;
}

/**
 * Whether a verified monitor still answers for its container: no exit file yet (seen by its watcher; looked for
 * as well with `lookForExit`, or when there is no watcher), and conmon alive — by signal 0 between re-verifications, by its start time (not a reused PID, not a
 * zombie) at them.
 */
function monitorHolds(m: Monitor, now: number, lookForExit: boolean): boolean {
  if (m.exitSeen || ((lookForExit || !m.watcher) && existsSync(m.exitFile))) return false;
  if (now - m.verifiedAt < MONITOR_REVERIFY_MS) return signalZero(m.conmonPid);
  if (processStartTime(m.conmonPid) !== m.conmonStart) return false;
  m.verifiedAt = now;
  return true;
}

export class Engine {
  private readonly runtimes = new Map<string, { opts: RuncHandlerOptions; rt: OciRuntime }>();
  /** Container dir → its verified monitor (see state()); dropped with the container (forget), bounded anyway. */
  private readonly monitors = new LRUCache<string, Monitor>({ max: 20_000, dispose: (m) => m.watcher?.close() });
  /** Container dir → its final state once exited. */
  private readonly exits = new LRUCache<string, LiveState>({ max: 20_000 });

  constructor(
    handlers: readonly RuncHandlerOptions[],
    private readonly conmonPath: string,
    private readonly layout: Layout,
    private readonly logSizeMax: number,
  ) {
    for (const h of handlers) {
      this.runtimes.set(h.name, {
        opts: h,
        rt: new OciRuntime({ path: h.runtimePath, root: h.runtimeRoot, extraArgs: h.runtimeArgs }),
      });
    }
  }

  handlerNames(): string[] {
    return [...this.runtimes.keys()];
  }

  /** The runtime of a handler; InvalidArgument for a handler this backend does not serve. */
  runtime(handler: string): OciRuntime {
    const r = this.runtimes.get(handler);
    if (!r) throw new InvalidArgumentError(`select runtime: handler "${handler}" is not served by the runc backend`);
    return r.rt;
  }

  options(handler: string): RuncHandlerOptions {
    const r = this.runtimes.get(handler);
    if (!r) throw new InvalidArgumentError(`select runtime: handler "${handler}" is not served by the runc backend`);
    return r.opts;
  }

  /** Writes the bundle's config.json (CreateContainer: the runtime sees the container only at start). */
  async writeBundle(dir: string, spec: OciSpec): Promise<void> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(spec));
  }

  /** Points the bundle's root at the mounted snapshot (known only once it is mounted). */
  async setRoot(dir: string, rootfs: string): Promise<void> {
    const file = path.join(dir, 'config.json');
    const spec = JSON.parse(await fs.readFile(file, 'utf8')) as OciSpec;
    if (spec.root.path === rootfs) return;
    spec.root.path = rootfs;
    await fs.writeFile(file, JSON.stringify(spec));
  }

  /** Has conmon run `runtime create` on the bundle in `o.dir`; resolves with the init PID (not started yet). */
  async launch(o: LaunchOptions): Promise<number> {
    const rt = this.runtime(o.handler);
    await Promise.all([
      fs.mkdir(rt.opts.root, { recursive: true, mode: 0o700 }),
      fs.mkdir(this.layout.socketDir, { recursive: true, mode: 0o700 }),
      o.logPath ? fs.mkdir(path.dirname(o.logPath), { recursive: true, mode: 0o755 }) : undefined,
    ]);
    const { pid } = await startConmon({
      conmonPath: this.conmonPath,
      runtimePath: rt.opts.path,
      runtimeArgs: rt.globalArgs(),
      id: o.id,
      bundleDir: o.dir,
      stateDir: o.dir,
      socketDir: this.layout.socketDir,
      logPath: o.logPath,
      logSizeMax: this.logSizeMax,
      terminal: o.tty,
      stdin: o.stdin,
      stdinOnce: o.stdinOnce,
    });
    return pid;
  }

  async start(handler: string, id: string, signal?: AbortSignal): Promise<void> {
    await this.runtime(handler).start(id, signal);
  }

  /**
   * Live state from conmon's files. `runc state` is asked only when the files cannot tell: between launch and
   * the recorded start (created and running look alike to conmon) and when conmon vanished without writing an
   * exit code. `started` is whether the record holds a start time.
   */
  async state(handler: string, id: string, dir: string, started = true): Promise<LiveState> {
    // An exit is final, so it is read once. A verified monitor is trusted while it holds (monitorHolds): a flag
    // and signal 0 instead of eight file reads through the thread pool, which is what lets the relist of 1,000
    // containers every second (the kubelet's, and crimux's own refresh) stay cheap.
    // One object asked for (a status, an exec's check): the exit file is looked for too, so an exit any caller has
    // seen is never answered as running because the watch's event is still queued. Relists rely on the watch.
    const known = started ? this.known(dir, true) : this.exits.get(dir);
    if (known) return known;
    const files = conmonPaths(dir);
    const exit = await readExitFile(dir);
    if (exit) return this.rememberExit(dir, exit);
    const [conmonPid, initPid] = await Promise.all([
      readPidFile(files.conmonPidFile),
      readPidFile(files.containerPidFile),
    ]);
    // Never launched: created in crimux's sense, unknown to the runtime until StartContainer.
    if (!started && conmonPid === null) return { kind: 'created', pid: 0 };
    if (started && conmonPid && (await processAlive(conmonPid, id))) {
      // conmon lives; the exit file may have appeared between the two reads.
      const again = await readExitFile(dir);
      if (again) return this.rememberExit(dir, again);
      const conmonStart = processStartTime(conmonPid);
      if (initPid && conmonStart) {
        this.monitor(dir, {
          conmonPid,
          conmonStart,
          exitFile: files.exitFile,
          live: { kind: 'running', pid: initPid },
        });
      }
      return initPid ? { kind: 'running', pid: initPid } : { kind: 'unknown' };
    }
    let st;
    try {
      st = await this.runtime(handler).state(id);
    } catch {
      return { kind: 'unknown' };
    }
    if (st && (st.status === 'running' || st.status === 'paused')) return { kind: 'running', pid: st.pid };
    if (st && st.status === 'created') return { kind: 'created', pid: st.pid };
    // The runtime says stopped, but conmon writes the exit file only after reaping init: between the two (and
    // when conmon's pid file was read mid-write) the code is still coming. Wait for it, bounded, before
    // reporting an unknown code that would be final to the kubelet.
    const late = await this.awaitExitFile(dir, conmonPid);
    if (late) return this.rememberExit(dir, late);
    return { kind: 'exited', code: 255, unknownCode: true };
  }

  /**
   * A started container's state when it is known without reading files: an exit seen before, or a verified
   * monitor that still holds. Undefined when only state() can tell. Synchronous, so a relist of many containers
   * needs no promise per container; with `lookForExit` the exit file is checked too (state(): one object asked).
   */
  known(dir: string, lookForExit = false): LiveState | undefined {
    const done = this.exits.get(dir);
    if (done) return done;
    const m = this.monitors.get(dir);
    if (!m) return undefined;
    if (monitorHolds(m, Date.now(), lookForExit)) return m.live;
    this.monitors.delete(dir); // and its watch: state() verifies a monitor afresh if conmon still lives
    return undefined;
  }

  /**
   * Keeps a verified monitor, watching its directory for the exit file (inotify: one watch per running container,
   * instead of one file lookup per container at every relist). The file is looked for once after the watch is
   * set, so an exit just before it is not missed.
   */
  private monitor(dir: string, m: Omit<Monitor, 'verifiedAt' | 'exitSeen' | 'watcher'>): void {
    const entry: Monitor = { ...m, verifiedAt: Date.now(), exitSeen: false };
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null && name !== 'exit') return;
        entry.exitSeen = true;
        w.close();
      });
      // A failed watch (the directory went away) falls back to looking for the file.
      w.on('error', () => {
        w.close();
        if (entry.watcher === w) entry.watcher = undefined;
      });
      entry.watcher = w;
    } catch {
      // No watch (e.g. inotify limits reached): the file is looked for at each relist.
    }
    if (existsSync(m.exitFile)) entry.exitSeen = true;
    this.monitors.set(dir, entry);
  }

  /** Drops what is known about a container directory being removed (and its watch). */
  forget(dir: string): void {
    this.monitors.delete(dir);
    this.exits.delete(dir);
  }

  private async awaitExitFile(
    dir: string,
    conmonPid: number | null,
  ): Promise<{ code: number; finishedAtNs: bigint } | null> {
    const deadline = Date.now() + EXIT_FILE_GRACE_MS;
    for (;;) {
      const exit = await readExitFile(dir);
      if (exit) return exit;
      if (Date.now() >= deadline) return null;
      const monitorAlive = conmonPid !== null && (await processAlive(conmonPid));
      await sleep(EXIT_FILE_POLL_MS);
      // conmon gone: one last look, after it had its chance to finish writing.
      if (!monitorAlive) return readExitFile(dir);
    }
  }

  private rememberExit(dir: string, exit: { code: number; finishedAtNs: bigint }): LiveState {
    const st: LiveState = { kind: 'exited', code: exit.code, finishedAtNs: exit.finishedAtNs };
    this.monitors.delete(dir);
    this.exits.set(dir, st);
    return st;
  }

  /**
   * Whether the container has exited (its exit file exists). A caller that saw the exit (StopContainer) is
   * followed by state() at once, so the exit is remembered here rather than left to the monitor's watcher, whose
   * event may not have been handled yet.
   */
  async exited(dir: string): Promise<boolean> {
    const exit = await readExitFile(dir);
    if (!exit) return false;
    this.rememberExit(dir, exit);
    return true;
  }

  /**
   * Stops a running container: `sig`, wait up to `timeoutSeconds` for conmon's exit file, then SIGKILL and wait
   * again. Idempotent: a container that already exited or is unknown returns.
   *
   * Signals go straight to the init PID while conmon lives and no exit file exists: conmon is its parent and
   * has not reaped it, so the PID cannot have been reused — and a `runtime kill` process costs more than the
   * whole stop. SIGKILL goes through `runtime kill --all` (every process of the cgroup: with a shared or host PID
   * namespace, killing init does not take the others along) unless `initOwnsPidNs` says killing init suffices.
   */
  async stop(o: StopOptions): Promise<void> {
    const { handler, id, dir, log } = o;
    if (await this.exited(dir)) return;
    const rt = this.runtime(handler);
    if (o.timeoutSeconds > 0 && o.signal !== 'SIGKILL') {
      log.info('stop container: sending stop signal', { signal: o.signal, timeoutSeconds: o.timeoutSeconds });
      if (!(await this.signal(rt, id, dir, o.signal, false, log))) return;
      if (await this.waitExit(dir, o.timeoutSeconds * 1000, o.abort)) return;
      log.info('stop container: grace period over, killing', { timeoutSeconds: o.timeoutSeconds });
    }
    if (!(await this.signal(rt, id, dir, 'SIGKILL', !o.initOwnsPidNs, log))) return;
    if (await this.waitKilled(rt, id, dir, 30_000)) return;
    // conmon may have been killed: fall back to the runtime's view before giving up.
    const st = await rt.state(id).catch(() => null);
    if (st && (st.status === 'running' || st.status === 'paused')) {
      throw new FailedPreconditionError(`stop container ${id}: still running 30 s after SIGKILL`);
    }
  }

  private async waitExit(dir: string, timeoutMs: number, abort?: AbortSignal): Promise<boolean> {
    const gone = await pollUntil(async () => ((await this.exited(dir)) ? true : undefined), {
      timeoutMs,
      intervalMs: 2,
      maxIntervalMs: 20,
      signal: abort,
    });
    return gone === true;
  }

  /**
   * Waits for a SIGKILLed container to be gone. Without a live conmon no exit file can ever come (conmon died, or
   * a container created but never started outlived it): the runtime's own state is the truth then.
   */
  private async waitKilled(rt: OciRuntime, id: string, dir: string, timeoutMs: number): Promise<boolean> {
    const gone = await pollUntil(
      async () => {
        if (await this.exited(dir)) return true;
        const conmonPid = await readPidFile(conmonPaths(dir).conmonPidFile);
        if (conmonPid && (await processAlive(conmonPid, id))) return undefined;
        let st;
        try {
          st = await rt.state(id);
        } catch {
          return undefined; // the runtime could not answer: not proof of an exit
        }
        return !st || st.status === 'stopped' ? true : undefined;
      },
      { timeoutMs, intervalMs: 2, maxIntervalMs: 50 },
    );
    return gone === true;
  }

  /** Delivers a signal; false when there is nothing left to signal. */
  private async signal(
    rt: OciRuntime,
    id: string,
    dir: string,
    sig: string,
    all: boolean,
    log: Logger,
  ): Promise<boolean> {
    if (!all) {
      const files = conmonPaths(dir);
      const [conmonPid, initPid] = await Promise.all([
        readPidFile(files.conmonPidFile),
        readPidFile(files.containerPidFile),
      ]);
      if (conmonPid && initPid && (await processAlive(conmonPid, id)) && !(await this.exited(dir))) {
        try {
          process.kill(initPid, sig as NodeJS.Signals);
          return true;
        } catch {
          return !(await this.exited(dir));
        }
      }
    }
    return this.tryKill(rt, id, sig, all, log);
  }

  /** Sends a signal; false when the container is already gone or stopped (nothing left to stop). */
  private async tryKill(rt: OciRuntime, id: string, sig: string, all: boolean, log: Logger): Promise<boolean> {
    try {
      await rt.kill(id, sig, { all });
      return true;
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof FailedPreconditionError) {
        log.debug('stop container: nothing to signal', { error: errorMessage(err) });
        return false;
      }
      throw err;
    }
  }

  /**
   * Removes every trace of a container from the runtime and conmon: `runtime delete --force` (killing what runs),
   * conmon itself if it lingers, the attach-socket link. Idempotent; unknown IDs are fine. Tries every handler
   * when `handler` is undefined (a record lost in a crash mid-create).
   */
  async destroy(
    handler: string | undefined,
    id: string,
    dir: string,
    log: Logger,
    signal?: AbortSignal,
  ): Promise<void> {
    const names = handler ? [handler] : this.handlerNames();
    for (const h of names) await this.runtime(h).delete(id, { force: true, signal });
    const conmonPid = await readPidFile(conmonPaths(dir).conmonPidFile);
    if (conmonPid && (await processAlive(conmonPid, id))) {
      log.debug('destroy container: stopping its conmon', { conmonPid });
      try {
        process.kill(conmonPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await fs.rm(this.layout.socketLink(id), { force: true });
  }
}
