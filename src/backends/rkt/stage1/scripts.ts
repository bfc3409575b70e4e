/**
 * The shell the min stage1 runs: the pod's /init, conmon's "OCI runtime" adapter, the command line that enters an
 * app, and the in-pod mount setup of an app. Generated here (not shipped as files) so a build of crimux is
 * complete without copying assets, and so each piece can be read in one place.
 *
 * How an app process is entered (and why this chain): Node cannot setns/chroot, and nsenter alone cannot set
 * supplementary groups, the capability bounding set or no_new_privs. So:
 *   nsenter -t <pod pid 1> -m -u -i -n -p      join the pod's namespaces (root = the pod's stage1 root, whose
 *                                              /usr is the host's, bound read-only by nspawn)
 *   env -i NAME=value…                         exactly the app's environment
 *   setpriv --groups|--clear-groups --regid --bounding-set [--nnp]   still root: groups, bounding set, nnp
 *   unshare -R <app root> -w <cwd> [-S <uid>]  chroot into the app, cd, and drop to the uid last
 * so the app (and every exec) runs as the container's uid/gid/groups, in its working dir, with its capability set.
 * The bounding set must keep CAP_SYS_CHROOT (for unshare -R) and, for a non-root uid, CAP_SETUID (for -S); see
 * security.ts for what that means for requests dropping them.
 */

/** sh -c program: joins the cgroups given as "<count> <cgroup.procs files…>", then execs the rest of its arguments. */
export const JOIN_AND_EXEC = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 1; shift; n=$((n-1)); done; exec "$@"';

/** Single-quote for /bin/sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export const INIT_SCRIPT = `#!/bin/sh
# crimux rkt stage1 (min flavor): the pod's root process (PID 2 under nspawn's stub init). Apps are entered from
# outside with nsenter; this marks the pod ready, as rkt's supervisor-ready.service did, and keeps it alive.
ln -sf ready /rkt/supervisor-status
exec sleep infinity
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
  /** Capability bounding set, "CAP_…" names (already including what the chain itself needs). */
  readonly bounding: readonly string[];
  readonly noNewPrivileges: boolean;
  readonly env: readonly string[];
  readonly argv: readonly string[];
}

/** The argv that runs spec.argv inside the app. */
export function enterArgv(spec: EnterSpec): string[] {
  const caps = spec.bounding.map((c) => `,+${c.replace(/^CAP_/, '').toLowerCase()}`).join('');
  const own = spec.ownPidNamespace;
  const ownNs = own
    ? [
        '/usr/bin/unshare', '--pid', '--fork', '--kill-child', '--mount', '--propagation', 'slave',
        `--mount-proc=${spec.root}/proc`, '--',
        '/bin/sh', '-c', `${procMasks(spec.root, own.maskedPaths, own.readonlyPaths)}: > ${shq(own.readyFile)}; exec "$@"`, 'crimux-app-ns',
      ]
    : [];
  return [
    '/usr/bin/nsenter', '-t', String(spec.pid1), '-m', '-u', '-i', '-n', '-p', '--',
    ...ownNs,
    '/usr/bin/env', '-i', ...spec.env,
    '/usr/bin/setpriv',
    spec.groups.length > 0 ? `--groups=${spec.groups.join(',')}` : '--clear-groups',
    `--regid=${spec.gid}`,
    '--inh-caps=-all',
    `--bounding-set=-all${caps}`,
    ...(spec.noNewPrivileges ? ['--nnp'] : []),
    '--',
    '/usr/bin/unshare', '-R', spec.root, '-w', spec.workingDir || '/',
    ...(spec.uid !== 0 ? ['-S', String(spec.uid)] : []),
    '--', ...spec.argv,
  ];
}

/** Shell lines masking and write-protecting the /proc paths below root (each ending in "; "). */
function procMasks(root: string, masked: readonly string[], readonly: readonly string[]): string {
  let out = '';
  for (const p of masked.filter((m) => m.startsWith('/proc/'))) {
    const t = shq(`${root}${p}`);
    out += `if [ -d ${t} ]; then mount -t tmpfs -o ro,size=0 tmpfs ${t}; elif [ -e ${t} ]; then mount --bind /dev/null ${t}; fi; `;
  }
  for (const p of readonly.filter((m) => m.startsWith('/proc/'))) {
    const t = shq(`${root}${p}`);
    out += `if [ -e ${t} ]; then mount --bind ${t} ${t} && mount -o remount,bind,ro ${t}; fi; `;
  }
  return out;
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
  /** App root as the pod sees it. */
  readonly root: string;
  readonly etcFiles: readonly { readonly src: string; readonly dst: string }[];
  readonly readOnlyVolumes: readonly string[];
  readonly maskedPaths: readonly string[];
  readonly readonlyPaths: readonly string[];
  readonly readOnlyRootfs: boolean;
}

/**
 * The mounts made inside the pod's mount namespace for one app: /proc of the pod's PID namespace, the pod's /dev
 * and /sys, the pod's hosts/resolv.conf/hostname, read-only volumes and paths, masked paths, and a read-only root
 * last. Done inside because per-mount flags (ro) do not propagate from the host into the pod.
 */
export function podSideSetupScript(s: PodSideSetup): string {
  const R = shq(s.root);
  const lines = [
    'set -e',
    `mount -t proc -o nosuid,noexec,nodev proc ${R}/proc`,
    `mount --rbind /dev ${R}/dev`,
    `mount --rbind /sys ${R}/sys`,
  ];
  for (const f of s.etcFiles) lines.push(`mount --bind ${shq(f.src)} ${R}${shq(f.dst)}`);
  for (const v of s.readOnlyVolumes) lines.push(`mount -o remount,bind,ro ${R}${shq(v)}`);
  for (const p of s.maskedPaths) {
    const t = `${R}${shq(p)}`;
    lines.push(`if [ -d ${t} ]; then mount -t tmpfs -o ro,size=0 tmpfs ${t}; elif [ -e ${t} ]; then mount --bind /dev/null ${t}; fi`);
  }
  for (const p of s.readonlyPaths) {
    const t = `${R}${shq(p)}`;
    lines.push(`if [ -e ${t} ]; then mount --bind ${t} ${t} && mount -o remount,bind,ro ${t}; fi`);
  }
  if (s.readOnlyRootfs) lines.push(`mount -o remount,bind,ro ${R}`);
  return lines.join('\n');
}
