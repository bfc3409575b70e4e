/**
 * The on-disk layout of the built-in stage1, rkt's where it matters (rkt common/common.go and
 * Documentation/devel/stage1-implementors-guide.md), so `rkt`-minded operators find what they expect:
 *
 *   <root>/pods/prepare/<uuid>/          a pod being created (a crash here leaves garbage, removed on start)
 *   <root>/pods/run/<uuid>/              flock(LOCK_EX) held by systemd-nspawn ⇒ running; unlocked ⇒ exited
 *     pod                                the pod manifest (JSON), rewritten atomically on app add/rm under pod.lck
 *     pod.lck  pod-created  ppid  pid     mtimes of pod-created / pid are created_at / started_at, as in rkt
 *     subcgroup  stage1.log
 *     stage1/rootfs/                     nspawn's root, bind-mounted on itself and made shared
 *       init                             the min flavor's sleeper (PID 2)
 *       rkt/supervisor-status -> ready   written by init: the pod can take apps
 *       rkt/status/<app>                 exit code (→ ../../../../appsinfo/<app>/exit, written by conmon)
 *       rkt/status/<app>-created|-started   timestamps (mtime)
 *       rkt/env/<app>  rkt/etc/{hosts,resolv.conf,hostname}
 *       opt/stage2/<app>/rootfs          the app's root (the image snapshot, bind-mounted)
 *     appsinfo/<app>/                    app.json (the AppSpec), conmon's files, run script, start/stdin FIFOs
 *   <root>/pods/exited-garbage/<uuid>/   rm renames here first, then unmounts and deletes (crash-safe, like rkt gc)
 */
import path from 'node:path';

export type PodDirState = 'prepare' | 'run' | 'exited-garbage';

export interface PodPaths {
  readonly dir: string;
  readonly manifest: string;
  readonly lockFile: string;
  readonly created: string;
  readonly ppid: string;
  readonly pid: string;
  readonly subcgroup: string;
  readonly stage1Log: string;
  readonly rootfs: string;
  readonly supervisorStatus: string;
  readonly statusDir: string;
  readonly envDir: string;
  readonly etcDir: string;
  readonly appsinfo: string;
}

export interface AppPaths {
  /** Host path of the app's root inside the pod's stage1 rootfs. */
  readonly rootfs: string;
  /** The same root as the pod sees it. */
  readonly podRootfs: string;
  readonly info: string;
  readonly spec: string;
  readonly created: string;
  readonly started: string;
  readonly status: string;
  /** What rkt/status/<app> links to: conmon's exit file (its --persist-dir is the info dir). */
  readonly statusTarget: string;
  readonly env: string;
  /** The app's seccomp filter (stage1/seccomp.ts), when it has one. */
  readonly seccomp: string;
}

/** appc ACName, as rkt requires for app names. */
export const APP_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(s: string): boolean {
  return UUID.test(s);
}

export class Stage1Layout {
  constructor(readonly root: string) {}

  podsDir(state: PodDirState): string {
    return path.join(this.root, 'pods', state);
  }

  pod(uuid: string, state: PodDirState = 'run'): PodPaths {
    const dir = path.join(this.podsDir(state), uuid);
    const rootfs = path.join(dir, 'stage1', 'rootfs');
    return {
      dir,
      manifest: path.join(dir, 'pod'),
      lockFile: path.join(dir, 'pod.lck'),
      created: path.join(dir, 'pod-created'),
      ppid: path.join(dir, 'ppid'),
      pid: path.join(dir, 'pid'),
      subcgroup: path.join(dir, 'subcgroup'),
      stage1Log: path.join(dir, 'stage1.log'),
      rootfs,
      supervisorStatus: path.join(rootfs, 'rkt', 'supervisor-status'),
      statusDir: path.join(rootfs, 'rkt', 'status'),
      envDir: path.join(rootfs, 'rkt', 'env'),
      etcDir: path.join(rootfs, 'rkt', 'etc'),
      appsinfo: path.join(dir, 'appsinfo'),
    };
  }

  app(pod: PodPaths, app: string): AppPaths {
    const info = path.join(pod.appsinfo, app);
    return {
      rootfs: path.join(pod.rootfs, 'opt', 'stage2', app, 'rootfs'),
      podRootfs: `/opt/stage2/${app}/rootfs`,
      info,
      spec: path.join(info, 'app.json'),
      created: path.join(pod.statusDir, `${app}-created`),
      started: path.join(pod.statusDir, `${app}-started`),
      status: path.join(pod.statusDir, app),
      statusTarget: `../../../../appsinfo/${app}/exit`,
      env: path.join(pod.envDir, app),
      seccomp: path.join(pod.envDir, `${app}.seccomp`),
    };
  }
}
