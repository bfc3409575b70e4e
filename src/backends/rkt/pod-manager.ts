/**
 * The pod-manager contract: one method per rkt command rktlet used, returning rkt's api/v1 JSON shapes (api.ts).
 *
 * Why this seam: rktlet bridged the CRI to rkt by running one rkt command per CRI call; keeping exactly that
 * vocabulary lets one CRI translation (backend.ts and friends) drive either a real `rkt` binary (rkt-cli/) or the
 * built-in systemd-nspawn stage1 (stage1/), and lets one contract test suite hold both to the same behaviour.
 *
 * Errors (src/errors.ts kinds, as rkt's own messages classify): unknown pod or app → NotFoundError ("no matches
 * found for"); an operation needing a running pod on a stopped one → FailedPreconditionError ("pod isn't currently
 * running"); a duplicate app name → AlreadyExistsError ("multiple apps with name"). stop() of a stopped or
 * unknown pod succeeds ("is already stopped" / "no matches found" are success, as in rktlet's cli/errors.go).
 */
import type { OciSeccomp } from '../../host/oci-spec';
import type { ChildProcess } from 'node:child_process';
import type * as v1 from './api';

/** How the pod reaches the network. */
export type SandboxNetwork =
  /** The host's network namespace (CRI NamespaceMode NODE). */
  | { readonly kind: 'host' }
  /** A namespace crimux created and attached with CNI (built-in stage1: nspawn --network-namespace-path). */
  | { readonly kind: 'netns'; readonly path: string; readonly ips?: readonly string[] }
  /** A network rkt attaches itself (real rkt: --net=<name>, CNI from /etc/rkt/net.d). */
  | { readonly kind: 'rkt'; readonly name: string };

export interface SandboxOptions {
  /** Pod user annotations: rktlet's k8s.io/reserved/pod-{uid,name,namespace,attempt}, CRI annotations, crimux's. */
  readonly userAnnotations: Readonly<Record<string, string>>;
  readonly userLabels: Readonly<Record<string, string>>;
  readonly hostname?: string;
  readonly dns?: {
    readonly servers: readonly string[];
    readonly searches: readonly string[];
    readonly options: readonly string[];
  };
  readonly network: SandboxNetwork;
  /** Host port mappings; only a real rkt applies them (crimux's CNI portmap does it for the built-in stage1). */
  readonly ports?: readonly { readonly name: string; readonly hostPort: number; readonly hostIp?: string }[];
  /** CRI log_directory: apps' kubernetes-log-path is relative to it (rkt's kubernetes-log-dir annotation). */
  readonly logDirectory?: string;
  /** cgroupfs path the pod goes under (CRI linux.cgroup_parent); empty: the configured default. */
  readonly cgroupParent?: string;
  /** Extra /etc/hosts lines, e.g. "10.0.0.5 web". */
  readonly hostsEntries?: readonly string[];
  /** IPC-namespace sysctls (kernel.shm*, msg*, sem, fs.mqueue.*) set in the pod's IPC namespace before any app. */
  readonly ipcSysctls?: Readonly<Record<string, string>>;
}

export interface AppMount {
  readonly name: string;
  readonly hostPath: string;
  readonly containerPath: string;
  readonly readOnly: boolean;
}

export interface AppResources {
  readonly cpuShares?: number;
  /** CFS quota and period in microseconds (rkt: --cpu=<millicores>m). */
  readonly cpuQuota?: number;
  readonly cpuPeriod?: number;
  readonly memoryLimitBytes?: number;
  readonly oomScoreAdj?: number;
}

/** Everything `rkt app add` takes (rktlet's generateAppAddCommand), already resolved against the image. */
export interface AppSpec {
  /** An appc ACName: lowercase alphanumerics and '-', e.g. "0-web" (rktlet: "<attempt>-<name>"). */
  readonly name: string;
  /** The image: a reference the pod manager can resolve (an rkt image ID or name, or an OCI reference). */
  readonly image: string;
  /** Full argv (entrypoint + cmd, or the CRI command + args). */
  readonly exec: readonly string[];
  readonly workingDir: string;
  /** Numeric uid and gid (resolved against the image's /etc/passwd by the translation). */
  readonly uid: number;
  readonly gid: number;
  readonly supplementaryGids: readonly number[];
  /** NAME=value, in order. */
  readonly environment: readonly string[];
  readonly readOnlyRootfs: boolean;
  readonly mounts: readonly AppMount[];
  readonly resources: AppResources;
  /** The complete capability set to keep ("CAP_CHOWN", …); undefined: the pod manager's default set. */
  readonly capsRetain?: readonly string[];
  readonly noNewPrivileges: boolean;
  /** The app's seccomp filter (OCI form, capability conditionals resolved); absent: unconfined. */
  readonly seccomp?: OciSeccomp;
  /** "pod": the pod's PID namespace (rkt's model, CRI pid=POD); "container": one of its own (CRI pid=CONTAINER). */
  readonly pidNamespace: 'pod' | 'container';
  /** Paths masked (/dev/null or an empty read-only tmpfs) and made read-only inside the app. */
  readonly maskedPaths: readonly string[];
  readonly readonlyPaths: readonly string[];
  /** CRI log path, relative to the sandbox's logDirectory (rkt's kubernetes-log-path annotation); '' = none. */
  readonly logPath: string;
  readonly stdin: boolean;
  readonly stdinOnce: boolean;
  readonly tty: boolean;
  /** Signal StopContainer sends first (image StopSignal), e.g. "SIGTERM". */
  readonly stopSignal: string;
  readonly userAnnotations: Readonly<Record<string, string>>;
  readonly userLabels: Readonly<Record<string, string>>;
}

export interface ExecOptions {
  readonly tty: boolean;
  readonly stdin: boolean;
}

/**
 * SecurityContext features a pod manager can enforce; the CRI translation rejects (or warns about, per config)
 * a request using one that is missing.
 */
export type SecurityFeature =
  | 'user'
  | 'group'
  | 'supplementalGroups'
  | 'capabilities'
  | 'noNewPrivileges'
  | 'seccomp'
  /** IPC-namespace sysctls of the pod (SandboxOptions.ipcSysctls). */
  | 'ipcSysctls'
  | 'readonlyRootfs'
  | 'maskedPaths'
  | 'readonlyPaths'
  | 'stopSignal'
  /** CRI pid=CONTAINER: an app PID namespace of its own (rkt apps always shared the pod's). */
  | 'containerPidNamespace';

export interface PodManagerInfo {
  /** "rkt" (a real binary) or "stage1-<flavor>". */
  readonly kind: string;
  readonly version: string;
  /** Whether sandbox() takes a {kind:'netns'} network (crimux does CNI) rather than naming an rkt network. */
  readonly takesNetnsPath: boolean;
  /** Whether appStop honours a grace period itself (real rkt has no timeout on `rkt app stop`). */
  readonly appStopHonoursGrace: boolean;
  readonly enforces: readonly SecurityFeature[];
  /** Whether appExec/attach can give a TTY. */
  readonly tty: boolean;
}

/** The rkt commands rktlet used, one method each. Every method is safe to call concurrently for different pods. */
export interface PodManager {
  info(signal?: AbortSignal): Promise<PodManagerInfo>;

  /** `rkt app sandbox`: a running, empty mutable pod; resolves with its UUID once it is ready for app add. */
  sandbox(opts: SandboxOptions, signal?: AbortSignal): Promise<string>;
  /** `rkt status UUID --format=json`. */
  status(uuid: string, signal?: AbortSignal): Promise<v1.Pod>;
  /** `rkt list --format=json`, with apps[] filled (so the CRI lists need no per-app call). */
  list(signal?: AbortSignal): Promise<v1.Pod[]>;
  /** `rkt stop --force=B UUID`: stops the pod's stage1 and with it every app. Idempotent. */
  stop(uuid: string, force: boolean, signal?: AbortSignal): Promise<void>;
  /** `rkt rm UUID`: removes a stopped pod (stops it first if needed). Unknown UUID: NotFoundError. */
  rm(uuid: string, signal?: AbortSignal): Promise<void>;

  /** `rkt app add UUID IMAGE …`: the app exists (state created) but does not run. */
  appAdd(uuid: string, spec: AppSpec, signal?: AbortSignal): Promise<void>;
  /** `rkt app start UUID --app=APP`. */
  appStart(uuid: string, app: string, signal?: AbortSignal): Promise<void>;
  /**
   * `rkt app stop UUID --app=APP`: the stop signal, then SIGKILL after graceSeconds (0: at once). Stopping an app
   * that does not run succeeds.
   */
  appStop(uuid: string, app: string, graceSeconds: number, signal?: AbortSignal): Promise<void>;
  /** `rkt app rm UUID --app=APP`: removes a stopped app (stopping it first). Unknown app: NotFoundError. */
  appRm(uuid: string, app: string, signal?: AbortSignal): Promise<void>;
  /** `rkt app status UUID --app=APP --format=json`. */
  appStatus(uuid: string, app: string, signal?: AbortSignal): Promise<v1.App>;
  /**
   * `rkt app exec --app=APP UUID argv…`: a child process inside the app (its root, user, working dir and env).
   * The caller owns it: reads its stdio, waits for 'exit', kills it on timeout.
   */
  appExec(uuid: string, app: string, argv: readonly string[], opts: ExecOptions): Promise<ChildProcess>;

  /** `rkt image fetch --pull-policy=update --full=true docker://NAME`: resolves with the image ID. */
  imageFetch(name: string, signal?: AbortSignal): Promise<string>;
  /** `rkt image list --full --format=json --sort=importtime`. */
  imageList(signal?: AbortSignal): Promise<v1.ImageListEntry[]>;
  /** `rkt image rm ID`. */
  imageRm(id: string, signal?: AbortSignal): Promise<void>;
}
