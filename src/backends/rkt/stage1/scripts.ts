/**
 * The shell the min stage1 runs: the pod's /init, conmon's "OCI runtime" adapter, the command line that enters an
 * app, and the in-pod mount setup of an app. Generated here (not shipped as files) so a build of crimux is
 * complete without copying assets, and so each piece can be read in one place.
 *
 * How an app process is entered (and why this chain): Node cannot setns/chroot, and nsenter alone cannot set
 * supplementary groups, the capability bounding set or no_new_privs. So:
 *   nsenter -t <pod pid 1> -m -u -i -n -p --   join the pod's namespaces (root = the pod's stage1 root, whose
 *                                              /usr is the host's, bound read-only by nspawn)
 *   env -i                                     an empty environment: nothing of crimux's or conmon's goes on
 *   setpriv --groups|--clear-groups --regid --inh-caps=-all [--nnp] --   still root: groups, gid, nnp
 *   crimux-stage1 exec [--uid=N] --caps=N,… [--seccomp=F] -- <env file> <app root> <cwd> argv…
 *                                              chroot into the app, cd, limit the bounding set, load the seccomp
 *                                              filter, drop to the uid, exec with the env file
 * so the app (and every exec) runs as the container's uid/gid/groups, in its working dir, with its capability set
 * and seccomp filter.
 * Nothing from the request or the image is ever an option of a program here: it all sits after a "--" or in the
 * env file (NUL-separated, read by the static helper), and the app's environment reaches no program but the app
 * (issue #19: an env entry "--split-string=…" once became `env`'s own option and ran a root shell in the stage1;
 * LD_PRELOAD would have reached setpriv). The bounding set is limited by crimux-stage1 after its chroot (the bounding
 * set only limits what an exec gains; the helper still holds CAP_SYS_CHROOT and CAP_SETUID for its own steps), so a
 * request may drop every capability (issue #20: setpriv limiting it first needed CAP_SYS_CHROOT kept).
 */
import { ALL_CAPABILITIES } from '../../../host/oci-defaults';
import { InvalidArgumentError } from '../../../errors';
import { POD_HELPER } from './context';

/** sh -c program: joins the cgroups given as "<count> <cgroup.procs files…>", then execs the rest of its arguments. */
export const JOIN_AND_EXEC =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 1; shift; n=$((n-1)); done; exec "$@"';

/** Single-quote for /bin/sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The pod's /init. It ends in crimux-stage1's pause rather than `sleep infinity`: every app sharing the pod's PID
 * namespace sees this process, and one named "sleep" passed for the app's own (issue #20: `pgrep sleep` after a
 * timed-out ExecSync found it).
 */
export const INIT_SCRIPT = `#!/bin/sh
# crimux rkt stage1 (min flavor): the pod's root process (PID 2 under nspawn's stub init). Apps are entered from
# outside with nsenter; this marks the pod ready, as rkt's supervisor-ready.service did, and keeps it alive.
ln -sf ready /rkt/supervisor-status
exec ${POD_HELPER} pause
`;

/**
 * conmon's runtime (-r): only \`create\` is needed. It joins the app's cgroups (listed in <bundle>/cgroups), then
 * parks a process that execs <bundle>/run once crimux writes to <bundle>/start (CRI StartContainer), like runc's
 * exec.fifo; that process is the "container PID" conmon reaps and takes the exit code of.
 */
export const ENTER_RUNTIME_SCRIPT = `#!/bin/sh
cmd=; bundle=; pidfile=
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle|-b) bundle=$2; shift ;;
    --bundle=*) bundle=\${1#*=} ;;
    --pid-file) pidfile=$2; shift ;;
    --pid-file=*) pidfile=\${1#*=} ;;
    create|start|state|kill|delete|exec|run) [ -z "$cmd" ] && cmd=$1 ;;
  esac
  shift
done
if [ "$cmd" != create ]; then echo "crimux enter-runtime: $cmd: not supported" >&2; exit 1; fi
while read -r f; do echo $$ > "$f" || exit 1; done < "$bundle/cgroups"
sh -c 'read _ < "$1/start" || exit 1; exec "$1/run"' crimux-app "$bundle" &
echo $! > "$pidfile"
`;

export interface EnterSpec {
  /** The process whose namespaces are entered: the pod's PID 1, or an app's main process (exec into it). */
  readonly pid1: number;
  /**
   * Give the process a PID namespace (and mount namespace) of its own, as CRI's pid=CONTAINER asks: unshare
   * --pid --fork mounts a /proc of that namespace over the app's /proc and masks it again (the pod-side masks
   * sit on the pod's /proc, now hidden). Runs before setpriv, while the chain still has CAP_SYS_ADMIN.
   */
  readonly ownPidNamespace?: {
    readonly maskedPaths: readonly string[];
    readonly readonlyPaths: readonly string[];
    /** Created (pod view) once the namespace is set up, so execs know when they can enter it. */
    readonly readyFile: string;
  };
  /** The app's root as the pod sees it (/opt/stage2/<app>/rootfs). */
  readonly root: string;
  readonly workingDir: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
  /** Capability bounding set of the app, "CAP_…" names. */
  readonly bounding: readonly string[];
  /** The pod's view of the app's seccomp filter file (seccomp.ts), if it has one. */
  readonly seccompFile?: string;
  readonly noNewPrivileges: boolean;
  /** The pod's view of crimux-stage1 (context.ts POD_HELPER). */
  readonly helper: string;
  /** The pod's view of the app's env file (NUL-separated NAME=value entries, envFileContent). */
  readonly envFile: string;
  readonly argv: readonly string[];
}

/** The argv that runs spec.argv inside the app. */
export function enterArgv(spec: EnterSpec): string[] {
  const caps = spec.bounding.map((c) => {
    const n = ALL_CAPABILITIES.indexOf(c);
    if (n < 0) throw new InvalidArgumentError(`enter app: unknown capability "${c}"`);
    return n;
  });
  const own = spec.ownPidNamespace;
  const ownNs = own
    ? [
        '/usr/bin/unshare',
        '--pid',
        '--fork',
        '--kill-child',
        '--mount',
        '--propagation',
        'slave',
        `--mount-proc=${spec.root}/proc`,
        '--',
        '/bin/sh',
        '-c',
        `${procMasks(spec.helper, spec.root, own.maskedPaths, own.readonlyPaths)}: > ${shq(own.readyFile)}; exec "$@"`,
        'crimux-app-ns',
      ]
    : [];
  return [
    '/usr/bin/nsenter',
    '-t',
    String(spec.pid1),
    '-m',
    '-u',
    '-i',
    '-n',
    '-p',
    '--',
    ...ownNs,
    '/usr/bin/env',
    '-i',
    '/usr/bin/setpriv',
    spec.groups.length > 0 ? `--groups=${spec.groups.join(',')}` : '--clear-groups',
    `--regid=${spec.gid}`,
    '--inh-caps=-all',
    ...(spec.noNewPrivileges ? ['--nnp'] : []),
    '--',
    spec.helper,
    'exec',
    ...(spec.uid !== 0 ? [`--uid=${spec.uid}`] : []),
    `--caps=${[...new Set(caps)].sort((a, b) => a - b).join(',')}`,
    ...(spec.seccompFile ? [`--seccomp=${spec.seccompFile}`] : []),
    '--',
    spec.envFile,
    spec.root,
    spec.workingDir || '/',
    ...spec.argv,
  ];
}

/**
 * The env file of an app: NUL-separated, so a value may hold any byte but NUL. Refuses what execve could not pass
 * as given: an entry without a name (no "=", or nothing before it) or with a NUL, which would split in two.
 */
export function envFileContent(env: readonly string[]): string {
  for (const e of env) {
    const eq = e.indexOf('=');
    if (eq <= 0)
      throw new InvalidArgumentError(`app add: environment entry "${e.slice(0, 64)}" has no NAME=value form`);
    if (e.includes('\0'))
      throw new InvalidArgumentError(`app add: environment entry ${e.slice(0, eq)} contains a NUL byte`);
  }
  return env.map((e) => `${e}\0`).join('');
}

/** Shell lines masking and write-protecting the /proc paths below root (each ending in "; "), resolved in root. */
function procMasks(helper: string, root: string, masked: readonly string[], readonly: readonly string[]): string {
  let out = '';
  for (const p of masked.filter((m) => m.startsWith('/proc/'))) out += `${helperCall(helper, 'mask', [], [root, p])}; `;
  for (const p of readonly.filter((m) => m.startsWith('/proc/')))
    out += `${helperCall(helper, 'readonly', [], [root, p])}; `;
  return out;
}

/** A crimux-stage1 call as a /bin/sh command: fixed options first, every path after "--", each single-quoted. */
export function helperCall(helper: string, cmd: string, options: readonly string[], paths: readonly string[]): string {
  return [helper, cmd, ...options, '--', ...paths].map(shq).join(' ');
}

export interface RunScriptSpec {
  readonly enter: readonly string[];
  /** Info dir holding the stdin FIFO. */
  readonly infoDir: string;
  readonly stdin: boolean;
  readonly stdinOnce: boolean;
}

/**
 * <bundle>/run: sets up stdin and execs the enter chain (so the parked PID becomes nsenter, whose exit status is
 * the app's). stdin (CRI stdin=true) is a FIFO attach sessions write to: opened read-write it never reaches EOF
 * (stdin_once=false); with stdin_once a keeper process holds the write end until the first attach ends.
 */
export function runScript(spec: RunScriptSpec): string {
  const fifo = shq(`${spec.infoDir}/stdin`);
  const lines = ['#!/bin/sh'];
  if (spec.stdin && !spec.stdinOnce) lines.push(`exec 0<>${fifo}`);
  if (spec.stdin && spec.stdinOnce) {
    lines.push(
      `exec 3<>${fifo}`,
      `sleep 2147483647 3>&- 4>${fifo} </dev/null >/dev/null 2>&1 &`,
      `echo $! > ${shq(`${spec.infoDir}/stdin.keeper`)}`,
      `exec 0<${fifo} 3>&-`,
    );
  }
  lines.push(`exec ${spec.enter.map(shq).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export interface PodSideSetup {
  /** The pod's view of crimux-stage1. */
  readonly helper: string;
  /** App root as the pod sees it. */
  readonly root: string;
  readonly etcFiles: readonly { readonly src: string; readonly dst: string }[];
  readonly maskedPaths: readonly string[];
  readonly readonlyPaths: readonly string[];
  readonly readOnlyRootfs: boolean;
}

/**
 * The mounts made inside the pod's mount namespace for one app: /proc of the pod's PID namespace, the pod's /dev
 * and /sys (read-only, cgroup fs included), the pod's hosts/resolv.conf/hostname, masked and read-only paths, and a read-only root last. Done
 * inside because a /proc of the pod's PID namespace can only be mounted there. Every target is resolved inside
 * the app root by crimux-stage1 (an image's "/etc/hosts -> /usr/bin/env" lands on the app's own /usr/bin/env,
 * never the pod's), and every path is an argument after "--".
 */
export function podSideSetupScript(s: PodSideSetup): string {
  const call = (cmd: string, options: readonly string[], paths: readonly string[]): string =>
    helperCall(s.helper, cmd, options, paths);
  const lines = [
    'set -e',
    call('fs', ['--type=proc'], [s.root, '/proc']),
    call('bind', ['--recursive', '--create=dir'], [s.root, '/dev', '/dev']),
    // Read-only all the way down: on cgroup v2 nspawn mounts the pod's payload cgroup read-write at /sys/fs/cgroup,
    // and a root app could otherwise move itself there (out of its app cgroup and its limits) or write its files.
    call('bind', ['--recursive', '--readonly', '--create=dir'], [s.root, '/sys', '/sys']),
  ];
  for (const f of s.etcFiles) lines.push(call('bind', ['--create=file'], [s.root, f.dst, f.src]));
  for (const p of s.maskedPaths) lines.push(call('mask', [], [s.root, p]));
  for (const p of s.readonlyPaths) lines.push(call('readonly', [], [s.root, p]));
  if (s.readOnlyRootfs) lines.push(call('setattr', ['--readonly'], [s.root]));
  return lines.join('\n');
}
