/**
 * Entering an app of the built-in stage1: its main process (through conmon) and `rkt app exec` both use the same
 * chain (scripts.ts), so an exec runs exactly as the app does — its uid, gid, groups, working dir, environment and
 * capability bounding set — unlike rkt's enterexec, which ran every exec as root in "/".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { DEFAULT_CAPABILITIES } from '../../../host/oci-defaults';
import { procsFiles } from './cgroups';
import { POD_HELPER, type Stage1Context } from './context';
import { JOIN_AND_EXEC, enterArgv, shq, type EnterSpec } from './scripts';
import type { StoredApp } from './state';

/** Pod view of the app's env file (written NUL-separated at app add; layout.ts AppPaths.env on the host). */
export function podEnvFile(app: string): string {
  return `/rkt/env/${app}`;
}

/** Pod view of the marker an app with its own PID namespace creates once that namespace is ready. */
export function nsReadyFile(app: string): string {
  return `/rkt/status/${app}-nsready`;
}

/** Pod view of the app's seccomp filter (layout.ts AppPaths.seccomp on the host), next to its env file. */
export function podSeccompFile(app: string): string {
  return `/rkt/env/${app}.seccomp`;
}

export function boundingSet(stored: StoredApp): string[] {
  return [...(stored.spec.capsRetain ?? DEFAULT_CAPABILITIES)];
}

/**
 * The enter chain of the app's main process (argv undefined) or of an exec (argv given). target is the pod's PID 1,
 * or for an exec into an app with its own PID namespace, the app's main process.
 */
export function enterSpecOf(
  stored: StoredApp,
  target: number,
  root: string,
  argv?: readonly string[],
): EnterSpec & { argv: string[] } {
  const own = argv === undefined && stored.spec.pidNamespace === 'container';
  const spec: EnterSpec = {
    pid1: target,
    ...(own
      ? {
          ownPidNamespace: {
            maskedPaths: stored.spec.maskedPaths,
            readonlyPaths: stored.spec.readonlyPaths,
            readyFile: nsReadyFile(stored.spec.name),
          },
        }
      : {}),
    root,
    workingDir: stored.spec.workingDir || '/',
    uid: stored.spec.uid,
    gid: stored.spec.gid,
    groups: stored.spec.supplementaryGids,
    bounding: boundingSet(stored),
    ...(stored.spec.seccomp ? { seccompFile: podSeccompFile(stored.spec.name) } : {}),
    noNewPrivileges: stored.spec.noNewPrivileges,
    helper: POD_HELPER,
    envFile: podEnvFile(stored.spec.name),
    argv: argv ?? stored.spec.exec,
  };
  return { ...spec, argv: enterArgv(spec) };
}

/**
 * Spawns argv inside the app: joins the app's cgroups first (limits and stats cover execs too), then the enter
 * chain. With a TTY, util-linux script(1) allocates the terminal inside the pod (resized from the host, ../tty-resize.ts).
 */
export function spawnInApp(
  ctx: Stage1Context,
  stored: StoredApp,
  target: number,
  root: string,
  argv: readonly string[],
  opts: { tty: boolean; stdin: boolean },
): ChildProcess {
  let chain = enterSpecOf(stored, target, root, argv).argv;
  if (opts.tty) {
    // The terminal must come from the pod's devpts (which the app's /dev shows), so script runs inside nsenter.
    const split = chain.indexOf('--') + 1;
    chain = [...chain.slice(0, split), '/usr/bin/script', '-qfec', chain.slice(split).map(shq).join(' '), '/dev/null'];
  }
  const procs = procsFiles(stored.cgroup);
  return spawn('sh', ['-c', JOIN_AND_EXEC, 'crimux-rkt-exec', String(procs.length), ...procs, ...chain], {
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', opts.tty ? 'ignore' : 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
}
