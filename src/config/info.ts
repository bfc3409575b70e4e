/**
 * The effective configuration as `crictl info` reports it under "config": the settings node tooling reads from a
 * runtime (kubeadm checks `sandboxImage`; operators check the CNI directories and the cgroup driver), in
 * containerd's key names where one exists. Nothing secret: registry hosts are named, their credentials are not.
 */
import type { Config } from './types';
import { formatPlatform, hostPlatform } from '../images/platform';

/**
 * The node's cgroup driver as RuntimeConfig reports it to the kubelet (≥ 1.28 adopts it): the runc backend's
 * setting, the only backend that creates pod cgroups from the kubelet's cgroup_parent (rkt and vm use cgroupfs-style
 * paths of their own; docker's engine has its own driver).
 */
export function cgroupDriverOf(config: Config): 'cgroupfs' | 'systemd' {
  return config.backends.runc.cgroupDriver === 'systemd' ? 'systemd' : 'cgroupfs';
}

export function runtimeConfigInfo(config: Config): Record<string, unknown> {
  return {
    sandboxImage: config.images.sandboxImage,
    defaultRuntimeName: config.defaultHandler,
    runtimeHandlers: Object.fromEntries(
      Object.entries(config.handlers).map(([name, h]) => [
        name,
        { backend: h.backend, enabled: config.backends[h.backend]?.enabled ?? false },
      ]),
    ),
    // backends.runc.cgroupDriver; the kubelet must be configured with the same cgroupDriver.
    systemdCgroup: cgroupDriverOf(config) === 'systemd',
    cgroupDriver: cgroupDriverOf(config),
    cni: { confDir: config.network.confDir, binDirs: config.network.binDirs, netnsDir: config.network.netnsDir },
    // The platform pulled from multi-platform images: the configured one, else the node's own.
    registry: {
      hosts: Object.keys(config.images.registries),
      platform: config.images.platform || formatPlatform(hostPlatform()),
    },
    streamServerAddress: config.streaming.address,
    stateDir: config.stateDir,
    rootDir: config.stateDir,
    runDir: config.runDir,
  };
}
