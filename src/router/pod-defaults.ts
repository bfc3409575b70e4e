/**
 * Defaults the router fills into a PodSandboxConfig before any backend sees it, so every backend applies the
 * same rule instead of deriving its own.
 *
 * Hostname: an empty PodSandboxConfig.hostname means the node's hostname, as containerd and CRI-O do (the
 * kubelet and critest send pods without one; deriving it from metadata.name instead fails for the 60+
 * character, mixed-case names critest uses).
 */
import os from 'node:os';
import type * as cri from '../cri/types';

/** The config with its defaults filled in; `nodeHostname` is injectable for tests. */
export function withPodDefaults(
  config: cri.PodSandboxConfig,
  nodeHostname: () => string = os.hostname,
): cri.PodSandboxConfig {
  if (config.hostname) return config;
  return { ...config, hostname: nodeHostname() };
}
