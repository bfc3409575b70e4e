/**
 * The process of a container, merged from the CRI ContainerConfig over the image config by Kubernetes' rules —
 * one rule for every backend that builds a process itself (runc, the VM guest, rkt's apps; Docker Engine applies
 * the same rules to what convert-container.ts hands it):
 *   command set           → command + args            (the image's entrypoint and cmd are ignored)
 *   only args set         → image entrypoint + args
 *   neither               → image entrypoint + image cmd
 * Environment, in containerd's order: HOSTNAME, then the image env, then the CRI envs, each replacing equal keys;
 * PATH defaulted when the image has none.
 */
import type * as cri from '../cri/types';
import { InvalidArgumentError } from '../errors';
import type { ImageConfig } from '../images/types';
import { DEFAULT_PATH_ENV } from './oci-defaults';

/** The argv; an empty one is refused unless `allowEmpty` (a real rkt falls back to the image's own exec). */
export function processArgs(config: cri.ContainerConfig, image: ImageConfig, allowEmpty = false): string[] {
  let args: string[];
  if (config.command.length > 0) args = [...config.command, ...config.args];
  else if (config.args.length > 0) args = [...(image.entrypoint ?? []), ...config.args];
  else args = [...(image.entrypoint ?? []), ...(image.cmd ?? [])];
  if (!allowEmpty && (args.length === 0 || args[0] === '')) {
    throw new InvalidArgumentError(
      'create container: config.command: none given and the image has no entrypoint or cmd',
    );
  }
  return args;
}

/**
 * KEY=value pairs. `hostname` sets HOSTNAME (containerd and CRI-O do; an image's own HOSTNAME still wins, as
 * there). `home` sets HOME when nothing else did, for launchers that start from an empty environment (rkt's
 * `env -i`); runc derives HOME from the container's passwd itself.
 */
export function processEnv(
  config: cri.ContainerConfig,
  image: ImageConfig,
  extra: { readonly hostname?: string; readonly home?: string },
): string[] {
  const env = new Map<string, string>();
  const put = (kv: string): void => {
    const eq = kv.indexOf('=');
    if (eq === 0) return;
    env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
  };
  if (!(image.env ?? []).some((e) => e.startsWith('PATH='))) put(DEFAULT_PATH_ENV);
  if (extra.hostname !== undefined) put(`HOSTNAME=${extra.hostname}`);
  for (const e of image.env ?? []) put(e);
  for (const kv of config.envs) env.set(kv.key, kv.value);
  if (extra.home !== undefined && !env.has('HOME')) env.set('HOME', extra.home);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** The working directory: the CRI's, else the image's, else the root. */
export function processCwd(config: cri.ContainerConfig, image: ImageConfig): string {
  return config.working_dir || image.workingDir || '/';
}

/** The stop signal's name: the CRI's, else the image's STOPSIGNAL, else SIGTERM. */
export function stopSignal(config: cri.ContainerConfig, image: ImageConfig): string {
  if (config.stop_signal && config.stop_signal !== 'RUNTIME_DEFAULT') return normaliseSignal(config.stop_signal);
  if (image.stopSignal) return normaliseSignal(image.stopSignal);
  return 'SIGTERM';
}

const NUMBERED: Readonly<Record<string, string>> = {
  '1': 'SIGHUP',
  '2': 'SIGINT',
  '3': 'SIGQUIT',
  '9': 'SIGKILL',
  '10': 'SIGUSR1',
  '12': 'SIGUSR2',
  '15': 'SIGTERM',
  '28': 'SIGWINCH',
};

/** "TERM", "SIGTERM", "15" → "SIGTERM"; the CRI Signal enum's SIGRTMINPLUS3 style → SIGRTMIN+3. */
export function normaliseSignal(s: string): string {
  const t = s.trim().toUpperCase();
  if (/^\d+$/.test(t)) return NUMBERED[t] ?? t;
  const named = t.startsWith('SIG') ? t : `SIG${t}`;
  return named.replace(/^SIGRTMINPLUS(\d+)$/, 'SIGRTMIN+$1').replace(/^SIGRTMAXMINUS(\d+)$/, 'SIGRTMAX-$1');
}
