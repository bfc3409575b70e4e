/**
 * Running one OCI container (a pause or an application container) under conmon with a handler's runtime: create,
 * start, stop with a grace period, and destroy — the lifecycle both sandboxes and containers share.
 *
 * Live state is derived from conmon's files, never remembered: an exit file means exited (with that code); a
 * live conmon means created or running; with conmon gone and no exit file (conmon was killed), `runc state`
 * decides. This is what lets status and list answer correctly right after a crimux restart.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errorMessage, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../errors';
import type { Logger } from '../../log/logger';
import { conmonPaths, processAlive, readExitFile, readPidFile, startConmon } from '../../host/conmon';
import { OciRuntime } from '../../host/oci-runtime';
import type { OciSpec } from '../../host/oci-spec';
import { pollUntil } from '../../host/wait';
import type { Layout } from './layout';
import type { RuncHandlerOptions } from './options';

export type LiveState =
  | { readonly kind: 'created'; readonly pid: number }
  | { readonly kind: 'running'; readonly pid: number }
  | { readonly kind: 'exited'; readonly code: number; readonly finishedAtNs?: bigint; readonly unknownCode?: boolean }
  | { readonly kind: 'unknown' };

export interface CreateOptions {
  readonly handler: string;
  readonly id: string;
  /** Bundle and conmon persist dir (config.json is written here). */
  readonly dir: string;
  readonly spec: OciSpec;
  readonly logPath?: string;
  readonly tty?: boolean;
  readonly stdin?: boolean;
  readonly stdinOnce?: boolean;
  readonly signal?: AbortSignal;
}

export class Engine {
  private readonly runtimes = new Map<string, { opts: RuncHandlerOptions; rt: OciRuntime }>();

  constructor(
    handlers: readonly RuncHandlerOptions[],
    private readonly conmonPath: string,
    private readonly layout: Layout,
    private readonly logSizeMax: number,
  ) {
    for (const h of handlers) {
      this.runtimes.set(h.name, { opts: h, rt: new OciRuntime({ path: h.runtimePath, root: h.runtimeRoot, extraArgs: h.runtimeArgs }) });
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

  /** Writes config.json and has conmon run `runtime create`; resolves with the init PID (not started yet). */
  async create(o: CreateOptions): Promise<number> {
    const rt = this.runtime(o.handler);
    await fs.mkdir(o.dir, { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(o.dir, 'config.json'), JSON.stringify(o.spec));
    await fs.mkdir(rt.opts.root, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.layout.socketDir, { recursive: true, mode: 0o700 });
    if (o.logPath) await fs.mkdir(path.dirname(o.logPath), { recursive: true, mode: 0o755 });
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
   * Live state from conmon's files. `runc state` is asked only when the files cannot tell: before the recorded
   * start (created and running look alike to conmon) and when conmon vanished without writing an exit code.
   */
  async state(handler: string, id: string, dir: string, started = true): Promise<LiveState> {
    const exit = await readExitFile(dir);
    if (exit) return { kind: 'exited', code: exit.code, finishedAtNs: exit.finishedAtNs };
    const files = conmonPaths(dir);
    const [conmonPid, initPid] = await Promise.all([readPidFile(files.conmonPidFile), readPidFile(files.containerPidFile)]);
    if (started && conmonPid && (await processAlive(conmonPid, id))) {
      // conmon lives; the exit file may have appeared between the two reads.
      const again = await readExitFile(dir);
      if (again) return { kind: 'exited', code: again.code, finishedAtNs: again.finishedAtNs };
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
    return { kind: 'exited', code: 255, unknownCode: true };
  }

  /** Whether the container has exited (its exit file exists). */
  async exited(dir: string): Promise<boolean> {
    return (await readExitFile(dir)) !== null;
  }

  /**
   * Stops a running container: `signal`, wait up to `timeoutSeconds` for conmon's exit file, then SIGKILL to every
   * process of its cgroup and wait again. Idempotent: a container that already exited or is unknown returns.
   */
  async stop(handler: string, id: string, dir: string, sig: string, timeoutSeconds: number, log: Logger, abort?: AbortSignal): Promise<void> {
    if (await this.exited(dir)) return;
    const rt = this.runtime(handler);
    if (timeoutSeconds > 0 && sig !== 'SIGKILL') {
      log.info('stop container: sending stop signal', { signal: sig, timeoutSeconds });
      if (!(await this.tryKill(rt, id, sig, false, log))) return;
      const gone = await pollUntil(async () => ((await this.exited(dir)) ? true : undefined), {
        timeoutMs: timeoutSeconds * 1000,
        intervalMs: 5,
        maxIntervalMs: 100,
        signal: abort,
      });
      if (gone) return;
      log.info('stop container: grace period over, killing', { timeoutSeconds });
    }
    if (!(await this.tryKill(rt, id, 'SIGKILL', true, log))) return;
    const gone = await pollUntil(async () => ((await this.exited(dir)) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 5,
      maxIntervalMs: 100,
    });
    if (!gone) {
      // conmon may have been killed: fall back to the runtime's view before giving up.
      const st = await rt.state(id).catch(() => null);
      if (st && (st.status === 'running' || st.status === 'paused')) {
        throw new FailedPreconditionError(`stop container ${id}: still running 30 s after SIGKILL`);
      }
    }
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
  async destroy(handler: string | undefined, id: string, dir: string, log: Logger, signal?: AbortSignal): Promise<void> {
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
