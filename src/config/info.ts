/**
 * The effective configuration as `crictl info` reports it under "config": the settings node tooling reads from a
 * runtime (kubeadm checks `sandboxImage`; operators check the CNI directories and the cgroup driver), in
 * containerd's key names where one exists. Nothing secret: registry hosts are named, their credentials are not.
 */
import type { Config } from './types';
import { formatPlatform, hostPlatform } from '../images/platform';

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
    // The only driver on every backend today; the kubelet must be configured with cgroupDriver: cgroupfs.
    systemdCgroup: false,
    cgroupDriver: 'cgroupfs',
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
