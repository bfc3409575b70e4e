/**
 * `rkt app start` and `rkt app stop` for the built-in stage1.
 *
 * start: conmon (the per-app monitor: CRI log with P/F tags, exit code, survives crimux) runs the generated
 * enter-runtime as its OCI runtime, which parks the app's first process in the app cgroup; crimux then writes the
 * start FIFO and the process execs the enter chain (scripts.ts). conmon's exit file is what rkt/status/<app>
 * links to, so the exit code lands in rkt's layout without crimux being alive.
 * stop: the app's stop signal to its main process (nsenter's child), up to the grace period for the exit file,
 * then SIGKILL to the whole app cgroup — the timeout rktlet ignored is honoured here.
 */
import { constants as fsc, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FailedPreconditionError, InternalError, NotFoundError } from '../../../errors';
import { readPidFile, startConmon } from '../../../host/conmon';
import { runCommand } from '../../../host/process';
import { pollUntil } from '../../../host/wait';
import { childSet, createCgroup, joinCgroup, killCgroup, procsFiles, type CgroupSet } from './cgroups';
import type { Stage1Context } from './context';
import type { AppPaths } from './layout';
import { readOptional, touchNew } from './files';
import { exists } from '../../../util/fs';
import { childrenOf } from '../../../host/proc-tree';
import { readManifest } from './manifest';
import { enterSpecOf } from './enter';
import { runScript } from './scripts';
import { appStatus, findPod, podPid1, readStoredApp, type LoadedPod } from './state';

export async function startApp(ctx: Stage1Context, uuid: string, app: string, signal?: AbortSignal): Promise<void> {
  const { pod, pid1 } = await runningPod(ctx, uuid, 'app start');
  const stored = await readStoredApp(pod.paths, ctx, app);
  const m = await readManifest(pod.paths.manifest);
  if (!stored || !m?.apps.some((a) => a.name === app))
    throw new NotFoundError(`app start: cannot find app "${app}" in the pod`);
  if ((await appStatus(ctx, pod, app)).state === 'running') {
    throw new FailedPreconditionError(`app start: app "${app}" is already running`);
  }
  const ap = ctx.layout.app(pod.paths, app);
  const log = ctx.log.child({ pod: uuid, app });
  log.info('start app');
  // rkt's app start: forget the previous run (timestamps, exit code) before starting again.
  for (const f of [
    ap.started,
    ap.status,
    nsReady(ap),
    path.join(ap.info, 'exit'),
    path.join(ap.info, 'oom'),
    path.join(ap.info, app),
  ]) {
    await fs.rm(f, { force: true });
  }
  const bundle = path.join(ap.info, 'bundle');
  await fs.rm(bundle, { recursive: true, force: true });
  await fs.mkdir(bundle, { recursive: true });
  await fs.writeFile(
    path.join(bundle, 'cgroups'),
    procsFiles(stored.cgroup)
      .map((f) => `${f}\n`)
      .join(''),
  );
  const enter = enterSpecOf(stored, pid1, ap.podRootfs);
  const fifos = [path.join(bundle, 'start'), ...(stored.spec.stdin ? [path.join(ap.info, 'stdin')] : [])];
  for (const f of fifos) await fs.rm(f, { force: true });
  const mk = await runCommand('mkfifo', ['-m', '0600', ...fifos], { timeoutMs: 10_000, signal });
  if (mk.code !== 0) throw new InternalError(`app start: mkfifo: ${mk.stderr.trim()}`);
  const script = runScript({
    enter: enter.argv,
    infoDir: ap.info,
    stdin: stored.spec.stdin,
    stdinOnce: stored.spec.stdinOnce,
  });
  await fs.writeFile(path.join(bundle, 'run'), await withOomScore(script, stored.spec.resources.oomScoreAdj), {
    mode: 0o755,
  });
  if (stored.logPath) await fs.mkdir(path.dirname(stored.logPath), { recursive: true });
  await fs.symlink(ap.statusTarget, ap.status);
  await fs.mkdir(path.join(ap.info, 'sock'), { recursive: true });
  try {
    await launch(ctx, stored.cgroup, ap, app, bundle, stored.logPath);
  } catch (err) {
    log.warn('start app failed, undoing', { error: err });
    await killCgroup(stored.cgroup);
    const conmon = await readPidFile(path.join(ap.info, 'conmon.pid'));
    if (conmon !== null) signalPid(conmon, 'SIGKILL');
    for (const f of [ap.started, ap.status]) await fs.rm(f, { force: true });
    throw err;
  }
  log.info('started app');
}

async function launch(
  ctx: Stage1Context,
  cgroup: CgroupSet,
  ap: AppPaths,
  app: string,
  bundle: string,
  logPath: string,
): Promise<void> {
  const { conmonPid } = await startConmon({
    conmonPath: ctx.conmonPath,
    runtimePath: ctx.runtimePath,
    runtimeArgs: [],
    id: app,
    bundleDir: bundle,
    stateDir: ap.info,
    socketDir: path.join(ap.info, 'sock'),
    logPath: logPath || undefined,
    timeoutMs: 30_000,
  });
  // conmon belongs to the pod, not to crimux's cgroup: a restart of crimux's unit must not take it along.
  if (conmonPid > 0) {
    const monitor = childSet(podOf(cgroup), 'monitor');
    await createCgroup(ctx.hierarchies, monitor);
    await joinCgroup(monitor, conmonPid);
  }
  await touchNew(ap.started);
  await writeFifo(path.join(bundle, 'start'), 'go\n');
}

export async function stopApp(
  ctx: Stage1Context,
  uuid: string,
  app: string,
  graceSeconds: number,
  signal?: AbortSignal,
): Promise<void> {
  const pod = await findPod(ctx, uuid);
  if (!pod) throw new NotFoundError(`app stop: no matches found for "${uuid}"`);
  const stored = await readStoredApp(pod.paths, ctx, app);
  if (!stored) throw new NotFoundError(`app stop: cannot find app "${app}" in the pod`);
  if ((await appStatus(ctx, pod, app)).state !== 'running') return;
  const ap = ctx.layout.app(pod.paths, app);
  const log = ctx.log.child({ pod: uuid, app });
  log.info('stop app', { grace: graceSeconds, signal: stored.spec.stopSignal });
  const exited = async (): Promise<true | undefined> => ((await exists(path.join(ap.info, 'exit'))) ? true : undefined);
  if (graceSeconds > 0) {
    const main = await mainPid(ap, stored.spec.pidNamespace === 'container');
    if (main !== undefined) signalPid(main, stored.spec.stopSignal);
    if (await pollUntil(exited, { timeoutMs: graceSeconds * 1000, signal, maxIntervalMs: 100 })) return done(ap.info);
  }
  await killCgroup(stored.cgroup);
  if (!(await pollUntil(exited, { timeoutMs: 10_000, signal, maxIntervalMs: 100 }))) {
    log.warn('app did not report an exit after SIGKILL');
  }
  await done(ap.info);
}

/** Ends what outlives the app's main process: the stdin keeper of a stdin_once app. */
async function done(infoDir: string): Promise<void> {
  const keeper = await readPidFile(path.join(infoDir, 'stdin.keeper'));
  if (keeper !== null) signalPid(keeper, 'SIGKILL');
}

/** Host path of the marker an app with its own PID namespace creates when the namespace is ready. */
export function nsReady(ap: AppPaths): string {
  return `${ap.status}-nsready`;
}

/**
 * The app's main process: the child of the nsenter conmon watches, or with a PID namespace of its own, the child
 * of the `unshare --fork` below it (the app's PID 1) — only once that namespace is ready (its marker exists), so
 * an exec right after start can never enter the parked process's host namespaces instead.
 */
export async function mainPid(ap: AppPaths, ownPidNamespace: boolean): Promise<number | undefined> {
  const outer = await readPidFile(path.join(ap.info, 'pidfile'));
  if (outer === null) return undefined;
  if (!ownPidNamespace) return (await childrenOf(outer))[0] ?? outer;
  const ready = await pollUntil(async () => ((await exists(nsReady(ap))) ? true : undefined), { timeoutMs: 5000 });
  if (!ready) return undefined;
  const child = (await childrenOf(outer))[0];
  return child === undefined ? undefined : (await childrenOf(child))[0];
}

export function signalPid(pid: number, sig: string): void {
  const known = (os.constants.signals as Record<string, number>)[sig];
  try {
    process.kill(pid, known !== undefined ? sig : 'SIGTERM');
  } catch {
    // It exited meanwhile.
  }
}

async function runningPod(ctx: Stage1Context, uuid: string, what: string): Promise<{ pod: LoadedPod; pid1: number }> {
  const pod = await findPod(ctx, uuid);
  if (!pod) throw new NotFoundError(`${what}: no matches found for "${uuid}"`);
  const pid1 = await podPid1(pod);
  if (pid1 === undefined) throw new FailedPreconditionError(`${what}: pod "${uuid}" isn't currently running`);
  return { pod, pid1 };
}

/**
 * Writes to the start FIFO once the parked process has opened it: O_NONBLOCK fails with ENXIO while there is no
 * reader (the parked shell may still be starting when conmon reports), so retry briefly; never block on a FIFO
 * whose reader is gone.
 */
async function writeFifo(file: string, data: string): Promise<void> {
  let lastErr: unknown;
  const fh = await pollUntil(
    async () => {
      try {
        return await fs.open(file, fsc.O_WRONLY | fsc.O_NONBLOCK);
      } catch (err) {
        lastErr = err;
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
        return undefined;
      }
    },
    { timeoutMs: 5000, intervalMs: 2, maxIntervalMs: 20 },
  );
  if (!fh)
    throw new InternalError(`app start: the parked app process never opened its start FIFO (${String(lastErr)})`);
  try {
    await fh.write(data);
  } finally {
    await fh.close();
  }
}

/**
 * oom_score_adj is inherited by the app; it can only be raised here (lowering needs CAP_SYS_RESOURCE in the
 * daemon's own context, which hosts like this one refuse), so a lower request is clamped to crimux's own value.
 */
async function withOomScore(script: string, requested: number | undefined): Promise<string> {
  if (requested === undefined || requested === 0) return script;
  const own = Number(((await readOptional('/proc/self/oom_score_adj')) ?? '0').trim());
  const value = Math.max(requested, Number.isFinite(own) ? own : 0);
  return script.replace('#!/bin/sh\n', `#!/bin/sh\necho ${value} > /proc/self/oom_score_adj 2>/dev/null\n`);
}

/** The pod's cgroup set from an app's (its parent in every hierarchy). */
function podOf(app: CgroupSet): CgroupSet {
  const out: Record<string, string> = {};
  for (const [mount, p] of Object.entries(app)) out[mount] = path.posix.dirname(p);
  return out;
}
