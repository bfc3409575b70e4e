/**
 * The effective configuration as `crictl info` reports it under "config": the settings node tooling reads from a
 * runtime (kubeadm checks `sandboxImage`; operators check the CNI directories and the cgroup driver), in
 * containerd's key names where one exists. Nothing secret: registry hosts are named, their credentials are not.
 */
import type { Config } from './types';

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
    registry: { hosts: Object.keys(config.images.registries) },
    streamServerAddress: config.streaming.address,
    stateDir: config.stateDir,
    rootDir: config.stateDir,
    runDir: config.runDir,
  };
}
