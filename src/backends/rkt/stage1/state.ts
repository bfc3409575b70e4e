/**
 * Pod and app state of the built-in stage1, computed from files exactly as rkt's lib/app.go did — so a restarted
 * crimux (or the `crimux rkt` CLI) sees the same thing a running one does:
 *   app: <app>-created ⇒ created; <app>-started ⇒ running; rkt/status/<app> ⇒ exited with the code in it.
 *   pod: pods/run/<uuid> locked ⇒ running, unlocked ⇒ exited; pods/prepare ⇒ preparing.
 * One repair happens here (as the note's recovery section asks): an app that started, has no exit code, no live
 * conmon and no process left lost its monitor; it is recorded as exited with 255 (rkt reported 1, which is
 * indistinguishable from a real exit 1).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { processAlive, readPidFile } from '../../../host/conmon';
import { OOM_KILLED_ANNOTATION } from '../api';
import type * as v1 from '../api';
import type { AppSpec } from '../pod-manager';
import { cgroupPids, type CgroupSet } from './cgroups';
import type { Stage1Context } from './context';
import { listDir, mtimeNs, readJson, readOptional, writeAtomic } from './files';
import { isUuid, type PodDirState, type PodPaths } from './layout';
import { lockHolder, readFlockHolders } from './liveness';
import { readManifest, type PodManifest } from './manifest';

/** What appsinfo/<app>/app.json holds. */
export interface StoredApp {
  readonly spec: AppSpec;
  readonly imageId: string;
  readonly rootfsKey: string;
  /** The app's cgroup in every hierarchy. */
  readonly cgroup: CgroupSet;
  /** Absolute CRI log path, or ''. */
  readonly logPath: string;
}

export const MONITOR_LOST_EXIT_CODE = 255;

export interface LoadedPod {
  readonly uuid: string;
  readonly paths: PodPaths;
  readonly dirState: PodDirState;
  readonly manifest: PodManifest | undefined;
  /** PID of systemd-nspawn while it holds the pod lock. */
  readonly nspawnPid: number | undefined;
}

/** Finds a pod in any state directory; undefined when rkt would say "no matches found". */
export async function findPod(
  ctx: Stage1Context,
  uuid: string,
  holders?: Map<string, number>,
): Promise<LoadedPod | undefined> {
  if (!isUuid(uuid)) return undefined;
  for (const state of ['run', 'prepare', 'exited-garbage'] as const) {
    const paths = ctx.layout.pod(uuid, state);
    if (
      !(await fs.stat(paths.dir).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const manifest = await readManifest(paths.manifest);
    const nspawnPid = state === 'run' ? await lockHolder(paths.dir, holders) : undefined;
    return { uuid, paths, dirState: state, manifest, nspawnPid };
  }
  return undefined;
}

export function podState(p: LoadedPod): v1.PodState {
  if (p.dirState === 'prepare') return 'preparing';
  if (p.dirState === 'exited-garbage') return 'exited garbage';
  return p.nspawnPid !== undefined ? 'running' : 'exited';
}

/** The PID of the pod's container PID 1 (the process apps enter), when the pod runs. */
export async function podPid1(p: LoadedPod): Promise<number | undefined> {
  if (p.nspawnPid === undefined) return undefined;
  const pid = Number(((await readOptional(p.paths.pid)) ?? '').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export async function readStoredApp(p: PodPaths, ctx: Stage1Context, app: string): Promise<StoredApp | undefined> {
  return readJson<StoredApp>(ctx.layout.app(p, app).spec);
}

export async function appStatus(ctx: Stage1Context, p: LoadedPod, app: string): Promise<v1.App> {
  const ap = ctx.layout.app(p.paths, app);
  const stored = await readStoredApp(p.paths, ctx, app);
  const created = await mtimeNs(ap.created);
  const started = await mtimeNs(ap.started);
  let exit = await readExit(ap.status);
  if (!exit && started !== undefined && (await monitorLost(ctx, ap.info, stored))) {
    // conmon writes the exit file before it exits: read once more so a just-finished app is not misreported.
    exit = await readExit(ap.status);
    if (!exit && p.dirState === 'exited-garbage') {
      // rm is deleting this directory: a file written into it now makes that delete fail (ENOTEMPTY). Report, don't record.
      exit = { code: MONITOR_LOST_EXIT_CODE, at: started };
    } else if (!exit) {
      ctx.log.warn('app lost its monitor: recording exit code 255', { pod: p.uuid, app });
      await writeAtomic(path.join(ap.info, 'exit'), String(MONITOR_LOST_EXIT_CODE));
      exit = await readExit(ap.status);
    }
  }
  const oom =
    exit !== undefined &&
    (await fs.stat(path.join(ap.info, 'oom')).then(
      () => true,
      () => false,
    ));
  const state: v1.AppState = exit
    ? 'exited'
    : started !== undefined
      ? 'running'
      : created !== undefined
        ? 'created'
        : 'unknown';
  const spec = stored?.spec;
  return {
    name: app,
    state,
    ...(created !== undefined ? { created_at: created } : {}),
    ...(started !== undefined ? { started_at: started } : {}),
    ...(exit ? { finished_at: exit.at, exit_code: exit.code } : {}),
    image_id: stored?.imageId ?? '',
    mounts: (spec?.mounts ?? []).map((m) => ({
      name: m.name,
      container_path: m.containerPath,
      host_path: m.hostPath,
      read_only: m.readOnly,
    })),
    user_annotations: { ...(spec?.userAnnotations ?? {}), ...(oom ? { [OOM_KILLED_ANNOTATION]: 'true' } : {}) },
    user_labels: { ...(spec?.userLabels ?? {}) },
  };
}

async function readExit(file: string): Promise<{ code: number; at: string } | undefined> {
  const text = await readOptional(file);
  if (text === undefined) return undefined;
  const code = Number.parseInt(text.trim(), 10);
  const at = await mtimeNs(file);
  // Unreadable content counts as exited with 1, as in rkt's appStateInMutablePod.
  return { code: Number.isInteger(code) ? code : 1, at: at ?? '0' };
}

async function monitorLost(ctx: Stage1Context, infoDir: string, stored: StoredApp | undefined): Promise<boolean> {
  const conmon = await readPidFile(path.join(infoDir, 'conmon.pid'));
  if (conmon !== null && (await processAlive(conmon, path.join(infoDir, 'bundle')))) return false;
  if (stored && (await cgroupPids(stored.cgroup)).length > 0) return false;
  return true;
}

export async function podJson(ctx: Stage1Context, p: LoadedPod): Promise<v1.Pod> {
  const m = p.manifest;
  const names = (m?.apps ?? []).map((a) => a.name);
  const apps: v1.App[] = [];
  for (const n of names) apps.push(await appStatus(ctx, p, n));
  const created = await mtimeNs(p.paths.created);
  const started = await mtimeNs(p.paths.pid);
  const networks: v1.NetInfo[] = (m?.crimux.ips ?? []).map((ip) => ({ netName: 'default', ifName: 'eth0', ip }));
  return {
    name: p.uuid,
    state: podState(p),
    ...(networks.length > 0 ? { networks } : {}),
    app_names: names,
    apps,
    ...(created !== undefined ? { created_at: created } : {}),
    ...(started !== undefined ? { started_at: started } : {}),
    user_annotations: { ...(m?.userAnnotations ?? {}) },
    user_labels: { ...(m?.userLabels ?? {}) },
  };
}

/** Every pod, from one read of /proc/locks and the pods directories. */
export async function listPods(ctx: Stage1Context): Promise<LoadedPod[]> {
  const holders = await readFlockHolders();
  const out: LoadedPod[] = [];
  for (const state of ['run', 'prepare', 'exited-garbage'] as const) {
    for (const uuid of await listDir(ctx.layout.podsDir(state))) {
      if (!isUuid(uuid)) continue;
      const p = await findPod(ctx, uuid, holders);
      if (p && p.dirState === state) out.push(p);
    }
  }
  return out;
}
