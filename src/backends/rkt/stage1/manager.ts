/**
 * The built-in pod manager: rkt's commands implemented in-process over systemd-nspawn, conmon and the files of
 * layout.ts. No state lives in memory — every method reads the disk — so a restarted crimux, a second process
 * (the `crimux rkt` CLI) and this one all see the same pods.
 *
 * Images: `image fetch/list/rm` go to an injected ImageOps (crimux's shared OCI store), and app roots come from the
 * RootfsProvider (its snapshots); rkt's ACI/CAS store has no equivalent here.
 */
import type { ChildProcess } from 'node:child_process';
import { constants as fsc, promises as fs } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, NotFoundError } from '../../../errors';
import { BinaryProbe } from '../../../host/binary-probe';
import { runCommand } from '../../../host/process';
import type * as v1 from '../api';
import type { AppSpec, ExecOptions, PodManager, PodManagerInfo, SandboxOptions } from '../pod-manager';
import { addApp } from './app-add';
import { removeApp } from './app-rm';
import { mainPid, startApp, stopApp } from './app-run';
import type { CgroupSet } from './cgroups';
import type { Stage1Context } from './context';
import { spawnInApp } from './enter';
import { writeAtomic } from './files';
import { collectGarbage, removePod, stopPod } from './pod-ops';
import { createSandbox } from './sandbox';
import { ENTER_RUNTIME_SCRIPT } from './scripts';
import { appStatus, findPod, listPods, podJson, podPid1, readStoredApp, type StoredApp } from './state';

/** Image operations of the built-in manager (the shared OCI store in crimux). */
export interface ImageOps {
  fetch(name: string, signal?: AbortSignal): Promise<string>;
  list(signal?: AbortSignal): Promise<v1.ImageListEntry[]>;
  remove(id: string, signal?: AbortSignal): Promise<void>;
}

export class Stage1PodManager implements PodManager {
  /** systemd-nspawn's version, asked again only when the binary changed (the health probe calls info()). */
  private readonly nspawnVersion: BinaryProbe<string>;

  constructor(
    readonly ctx: Stage1Context,
    private readonly images: ImageOps,
  ) {
    this.nspawnVersion = new BinaryProbe(ctx.nspawnPath, async (signal) => {
      const res = await runCommand(ctx.nspawnPath, ['--version'], { timeoutMs: 10_000, signal });
      return /systemd (\d+)/.exec(res.stdout)?.[1] ?? 'unknown';
    });
  }

  /**
   * Writes the generated enter-runtime and, with cleanup (the daemon's start, never a CLI run beside a live
   * daemon, whose creates would look half-done), finishes removals a crash interrupted: pods/prepare, exited-garbage.
   */
  async init(signal?: AbortSignal, cleanup = true): Promise<void> {
    await fs.mkdir(path.dirname(this.ctx.runtimePath), { recursive: true });
    const current = await fs.readFile(this.ctx.runtimePath, 'utf8').catch(() => '');
    if (current !== ENTER_RUNTIME_SCRIPT) await writeAtomic(this.ctx.runtimePath, ENTER_RUNTIME_SCRIPT, 0o755);
    await fs.access(this.ctx.helperPath, fsc.X_OK).catch(() => {
      throw new FailedPreconditionError(
        `rkt stage1: helper ${this.ctx.helperPath} is missing (build it with scripts/build-native.sh)`,
      );
    });
    if (!cleanup) return;
    for (const pod of await listPods(this.ctx)) {
      if (pod.dirState === 'run') continue;
      this.ctx.log.info('cleaning up a pod left half-created or half-removed', { pod: pod.uuid, dir: pod.dirState });
      await collectGarbage(this.ctx, pod, signal).catch((err: unknown) =>
        this.ctx.log.warn('clean up leftover pod failed', { pod: pod.uuid, error: err }),
      );
    }
  }

  async info(signal?: AbortSignal): Promise<PodManagerInfo> {
    const nspawn = await this.nspawnVersion.get(signal);
    return {
      kind: 'stage1-min',
      version: `stage1-min (systemd-nspawn ${nspawn})`,
      takesNetnsPath: true,
      appStopHonoursGrace: true,
      enforces: [
        'user',
        'group',
        'supplementalGroups',
        'capabilities',
        'noNewPrivileges',
        'seccomp',
        'readonlyRootfs',
        'maskedPaths',
        'readonlyPaths',
        'stopSignal',
        'containerPidNamespace',
        'ipcSysctls',
      ],
      tty: true,
    };
  }

  sandbox(opts: SandboxOptions, signal?: AbortSignal): Promise<string> {
    return createSandbox(this.ctx, opts, signal);
  }

  async status(uuid: string): Promise<v1.Pod> {
    const pod = await findPod(this.ctx, uuid);
    if (!pod) throw new NotFoundError(`status: cannot get pod: no matches found for "${uuid}"`);
    return podJson(this.ctx, pod);
  }

  async list(): Promise<v1.Pod[]> {
    const out: v1.Pod[] = [];
    for (const p of await listPods(this.ctx)) out.push(await podJson(this.ctx, p));
    return out;
  }

  stop(uuid: string, force: boolean, signal?: AbortSignal): Promise<void> {
    return stopPod(this.ctx, uuid, force, signal);
  }

  rm(uuid: string, signal?: AbortSignal): Promise<void> {
    return removePod(this.ctx, uuid, signal);
  }

  appAdd(uuid: string, spec: AppSpec, signal?: AbortSignal): Promise<void> {
    return addApp(this.ctx, uuid, spec, signal);
  }

  appStart(uuid: string, app: string, signal?: AbortSignal): Promise<void> {
    return startApp(this.ctx, uuid, app, signal);
  }

  appStop(uuid: string, app: string, graceSeconds: number, signal?: AbortSignal): Promise<void> {
    return stopApp(this.ctx, uuid, app, graceSeconds, signal);
  }

  appRm(uuid: string, app: string, signal?: AbortSignal): Promise<void> {
    return removeApp(this.ctx, uuid, app, signal);
  }

  async appStatus(uuid: string, app: string): Promise<v1.App> {
    const pod = await findPod(this.ctx, uuid);
    if (!pod) throw new NotFoundError(`status: cannot get pod: no matches found for "${uuid}"`);
    if (!pod.manifest?.apps.some((a) => a.name === app))
      throw new NotFoundError(`status: cannot find app "${app}" in the pod`);
    return appStatus(this.ctx, pod, app);
  }

  async appExec(uuid: string, app: string, argv: readonly string[], opts: ExecOptions): Promise<ChildProcess> {
    const pod = await findPod(this.ctx, uuid);
    if (!pod) throw new NotFoundError(`app exec: no matches found for "${uuid}"`);
    const pid1 = await podPid1(pod);
    if (pid1 === undefined) throw new FailedPreconditionError(`app exec: pod "${uuid}" isn't currently running`);
    const stored = await readStoredApp(pod.paths, this.ctx, app);
    if (!stored) throw new NotFoundError(`app exec: cannot find app "${app}" in the pod`);
    if ((await appStatus(this.ctx, pod, app)).state !== 'running') {
      throw new FailedPreconditionError(`app exec: app "${app}" is not running`);
    }
    const ap = this.ctx.layout.app(pod.paths, app);
    // An app with its own PID namespace is entered through its main process, so execs see its processes only.
    const target = stored.spec.pidNamespace === 'container' ? await mainPid(ap, true) : pid1;
    if (target === undefined) throw new FailedPreconditionError(`app exec: app "${app}" has no main process (yet)`);
    return spawnInApp(this.ctx, stored, target, ap.podRootfs, argv, opts);
  }

  /** Internals of an app for what rkt had no command for (attach, stats): its record, files and cgroup. */
  async appHandle(uuid: string, app: string): Promise<{ stored: StoredApp; infoDir: string; running: boolean }> {
    const pod = await findPod(this.ctx, uuid);
    const stored = pod ? await readStoredApp(pod.paths, this.ctx, app) : undefined;
    if (!pod || !stored) throw new NotFoundError(`app ${app} of pod ${uuid}: not found`);
    const running = (await appStatus(this.ctx, pod, app)).state === 'running';
    return { stored, infoDir: this.ctx.layout.app(pod.paths, app).info, running };
  }

  /** Internals of a pod: its PID 1 while it runs (network namespace for port-forward) and its cgroup. */
  async podHandle(uuid: string): Promise<{ pid1: number | undefined; cgroup: CgroupSet }> {
    const pod = await findPod(this.ctx, uuid);
    if (!pod) throw new NotFoundError(`pod ${uuid}: not found`);
    return { pid1: await podPid1(pod), cgroup: pod.manifest?.crimux.cgroup ?? {} };
  }

  imageFetch(name: string, signal?: AbortSignal): Promise<string> {
    return this.images.fetch(name, signal);
  }

  imageList(signal?: AbortSignal): Promise<v1.ImageListEntry[]> {
    return this.images.list(signal);
  }

  imageRm(id: string, signal?: AbortSignal): Promise<void> {
    return this.images.remove(id, signal);
  }
}
