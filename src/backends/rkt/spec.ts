/**
 * CreateContainer → AppSpec: what rktlet's generateAppAddCommand derived from a CRI request, completed with what
 * it left out — the image's entrypoint/cmd/env/workdir/user/stop signal (src/host/container-process.ts), masked and read-only
 * paths (containerd's defaults when the request has none), the PID namespace mode and the log path.
 */
import type * as cri from '../../cri/types';
import { criResourceNumbers } from '../../host/cri-resources';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, computeCapabilities } from '../../host/oci-defaults';
import { processArgs, processCwd, processEnv, stopSignal } from '../../host/container-process';
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

/** The capability set the app keeps (containerd's defaults ± add/drop). */
export function capsOf(config: cri.ContainerConfig): string[] {
  const c = config.linux?.security_context?.capabilities;
  return computeCapabilities(c?.add_capabilities ?? [], c?.drop_capabilities ?? []);
}

export function buildAppSpec(input: SpecInput): AppSpec {
  const { config, imageConfig, user } = input;
  const exec = processArgs(config, imageConfig, !input.requireExec);
  const sc = config.linux?.security_context;
  // The shared reading of the CRI numbers (src/host/cri-resources.ts); 0 means "not set" to the app spec.
  const r = criResourceNumbers(config.linux?.resources, 'config.linux.resources');
  const set = (n: number): number | undefined => (n !== 0 ? n : undefined);
  const md = config.metadata;
  return {
    name: input.app,
    image: input.image,
    exec,
    workingDir: processCwd(config, imageConfig),
    uid: user.uid,
    gid: user.gid,
    supplementaryGids: user.groups,
    environment: processEnv(config, imageConfig, { home: user.home }),
    readOnlyRootfs: sc?.readonly_rootfs ?? false,
    mounts: config.mounts.map((m, i) => ({
      name: `volume-${i}`,
      hostPath: m.host_path,
      containerPath: m.container_path,
      readOnly: m.readonly,
    })),
    resources: {
      cpuShares: set(r.cpuShares),
      cpuQuota: set(r.cpuQuota),
      cpuPeriod: set(r.cpuPeriod),
      memoryLimitBytes: set(r.memoryLimitBytes),
      oomScoreAdj: set(r.oomScoreAdj),
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
    stopSignal: stopSignal(config, imageConfig),
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
