/**
 * CreateContainer → AppSpec: what rktlet's generateAppAddCommand derived from a CRI request, completed with what
 * it left out — the image's entrypoint/cmd/env/workdir/user/stop signal (Docker's rules), masked and read-only
 * paths (containerd's defaults when the request has none), the PID namespace mode and the log path.
 */
import { InvalidArgumentError } from '../../errors';
import type * as cri from '../../cri/types';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH_ENV,
  DEFAULT_READONLY_PATHS,
  computeCapabilities,
} from '../../host/oci-defaults';
import type { ImageConfig } from '../../images/types';
import { CONTAINER_ID_ANNOTATION } from './records';
import type { AppSpec } from './pod-manager';

export const IMAGE_NAME_ANNOTATION = 'k8s.io/reserved/image-name';
export const CONTAINER_NAME_ANNOTATION = 'crimux.io/container-name';
export const CONTAINER_ATTEMPT_ANNOTATION = 'crimux.io/container-attempt';

/** The container's user, resolved (src/host/passwd.ts against the app's root for the built-in stage1). */
export interface AppUser {
  readonly uid: number;
  readonly gid: number;
  /** Primary gid first, then /etc/group memberships and the request's supplemental_groups (containerd's order). */
  readonly groups: readonly number[];
  readonly home: string;
}

export interface SpecInput {
  readonly id: string;
  readonly app: string;
  readonly config: cri.ContainerConfig;
  /** The image reference the pod manager resolves (stage1: the OCI reference; real rkt: its image ID). */
  readonly image: string;
  readonly imageConfig: ImageConfig;
  readonly user: AppUser;
  /** false for a real rkt, which falls back to the image's own exec when the request has no command. */
  readonly requireExec: boolean;
}

/** Docker's rule: command+args replace entrypoint+cmd; args alone replace cmd. */
export function argvOf(config: cri.ContainerConfig, image: ImageConfig): string[] {
  if (config.command.length > 0) return [...config.command, ...config.args];
  const cmd = config.args.length > 0 ? config.args : (image.cmd ?? []);
  return [...(image.entrypoint ?? []), ...cmd];
}

/** The image env overlaid with the CRI envs (by name), PATH defaulted, HOME from passwd when missing. */
export function environmentOf(config: cri.ContainerConfig, image: ImageConfig, home: string): string[] {
  const env = new Map<string, string>();
  for (const e of image.env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const kv of config.envs) env.set(kv.key, kv.value);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH_ENV.slice('PATH='.length));
  if (!env.has('HOME')) env.set('HOME', home);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** "SIGTERM", "TERM" or "15" → "SIGTERM"; the CRI's own stop signal wins over the image's. */
export function stopSignalOf(config: cri.ContainerConfig, image: ImageConfig): string {
  if (config.stop_signal && config.stop_signal !== 'RUNTIME_DEFAULT') return String(config.stop_signal);
  const s = (image.stopSignal ?? '').trim().toUpperCase();
  if (!s) return 'SIGTERM';
  if (/^\d+$/.test(s)) {
    const byNumber: Record<string, string> = {
      '1': 'SIGHUP',
      '2': 'SIGINT',
      '3': 'SIGQUIT',
      '9': 'SIGKILL',
      '10': 'SIGUSR1',
      '12': 'SIGUSR2',
      '15': 'SIGTERM',
    };
    return byNumber[s] ?? 'SIGTERM';
  }
  return s.startsWith('SIG') ? s : `SIG${s}`;
}

function num(s: string | undefined): number | undefined {
  const n = Number(s ?? '0');
  return Number.isFinite(n) && n !== 0 ? n : undefined;
}

/** The capability set the app keeps (containerd's defaults ± add/drop). */
export function capsOf(config: cri.ContainerConfig): string[] {
  const c = config.linux?.security_context?.capabilities;
  return computeCapabilities(c?.add_capabilities ?? [], c?.drop_capabilities ?? []);
}

export function buildAppSpec(input: SpecInput): AppSpec {
  const { config, imageConfig, user } = input;
  const exec = argvOf(config, imageConfig);
  if (exec.length === 0 && input.requireExec)
    throw new InvalidArgumentError('create container: no command: the request and the image set none');
  const sc = config.linux?.security_context;
  const r = config.linux?.resources;
  const md = config.metadata;
  return {
    name: input.app,
    image: input.image,
    exec,
    workingDir: config.working_dir || imageConfig.workingDir || '/',
    uid: user.uid,
    gid: user.gid,
    supplementaryGids: user.groups,
    environment: environmentOf(config, imageConfig, user.home),
    readOnlyRootfs: sc?.readonly_rootfs ?? false,
    mounts: config.mounts.map((m, i) => ({
      name: `volume-${i}`,
      hostPath: m.host_path,
      containerPath: m.container_path,
      readOnly: m.readonly,
    })),
    resources: {
      cpuShares: num(r?.cpu_shares),
      cpuQuota: num(r?.cpu_quota),
      cpuPeriod: num(r?.cpu_period),
      memoryLimitBytes: num(r?.memory_limit_in_bytes),
      oomScoreAdj: num(r?.oom_score_adj),
    },
    capsRetain: capsOf(config),
    noNewPrivileges: sc?.no_new_privs ?? false,
    pidNamespace: sc?.namespace_options?.pid === 'CONTAINER' ? 'container' : 'pod',
    maskedPaths: sc && sc.masked_paths.length > 0 ? sc.masked_paths : DEFAULT_MASKED_PATHS,
    readonlyPaths: sc && sc.readonly_paths.length > 0 ? sc.readonly_paths : DEFAULT_READONLY_PATHS,
    logPath: config.log_path,
    stdin: config.stdin,
    stdinOnce: config.stdin_once,
    tty: false,
    stopSignal: stopSignalOf(config, imageConfig),
    userAnnotations: {
      ...config.annotations,
      [IMAGE_NAME_ANNOTATION]: config.image?.image ?? '',
      [CONTAINER_ID_ANNOTATION]: input.id,
      [CONTAINER_NAME_ANNOTATION]: md?.name ?? '',
      [CONTAINER_ATTEMPT_ANNOTATION]: String(md?.attempt ?? 0),
    },
    userLabels: { ...config.labels },
  };
}
