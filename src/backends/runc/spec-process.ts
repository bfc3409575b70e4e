/**
 * The process part of a container: argv, environment, working directory, user and stop signal, merging the CRI
 * ContainerConfig over the image config with Kubernetes' rules:
 *   command set           → command + args            (the image's entrypoint and cmd are ignored)
 *   only args set         → image entrypoint + args
 *   neither               → image entrypoint + image cmd
 * Environment: image env, then CRI envs replacing equal keys; PATH defaulted; HOSTNAME set (as containerd does).
 */
import type * as cri from '../../cri/types';
import { InvalidArgumentError } from '../../errors';
import type { ImageConfig } from '../../images/types';
import { DEFAULT_PATH_ENV } from '../../host/oci-defaults';

export function processArgs(config: cri.ContainerConfig, image: ImageConfig): string[] {
  let args: string[];
  if (config.command.length > 0) args = [...config.command, ...config.args];
  else if (config.args.length > 0) args = [...(image.entrypoint ?? []), ...config.args];
  else args = [...(image.entrypoint ?? []), ...(image.cmd ?? [])];
  if (args.length === 0 || args[0] === '') {
    throw new InvalidArgumentError(
      'create container: config.command: none given and the image has no entrypoint or cmd',
    );
  }
  return args;
}

export function processEnv(config: cri.ContainerConfig, image: ImageConfig, hostname: string): string[] {
  const env = new Map<string, string>();
  const put = (kv: string): void => {
    const eq = kv.indexOf('=');
    const k = eq < 0 ? kv : kv.slice(0, eq);
    env.set(k, eq < 0 ? '' : kv.slice(eq + 1));
  };
  if (!(image.env ?? []).some((e) => e.startsWith('PATH='))) put(DEFAULT_PATH_ENV);
  put(`HOSTNAME=${hostname}`);
  for (const e of image.env ?? []) put(e);
  for (const kv of config.envs) env.set(kv.key, kv.value);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

// The user and supplementary groups are shared with the vm backend's guest: src/host/container-policy.ts.
export { processUser } from '../../host/container-policy';

/** The stop signal name: the CRI's, else the image's STOPSIGNAL, else SIGTERM. */
export function stopSignal(config: cri.ContainerConfig, image: ImageConfig): string {
  if (config.stop_signal && config.stop_signal !== 'RUNTIME_DEFAULT') return normaliseSignal(config.stop_signal);
  if (image.stopSignal) return normaliseSignal(image.stopSignal);
  return 'SIGTERM';
}

const NUMBERED: Record<string, string> = {
  '1': 'SIGHUP',
  '2': 'SIGINT',
  '3': 'SIGQUIT',
  '9': 'SIGKILL',
  '10': 'SIGUSR1',
  '12': 'SIGUSR2',
  '15': 'SIGTERM',
  '28': 'SIGWINCH',
};

/** "TERM", "SIGTERM", "15" → "SIGTERM"; CRI's SIGRTMINPLUS3 style → SIGRTMIN+3. */
export function normaliseSignal(s: string): string {
  const t = s.trim().toUpperCase();
  if (/^\d+$/.test(t)) return NUMBERED[t] ?? t;
  const named = t.startsWith('SIG') ? t : `SIG${t}`;
  return named.replace(/^SIGRTMINPLUS(\d+)$/, 'SIGRTMIN+$1').replace(/^SIGRTMAXMINUS(\d+)$/, 'SIGRTMAX-$1');
}
