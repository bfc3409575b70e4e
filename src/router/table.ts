/** Building routing inputs: the RoutingTable from config, and PodFacts from a CRI PodSandboxConfig. */
import type { BackendCapabilities, BackendKind } from '../backends/backend';
import type { Config } from '../config/types';
import type * as cri from '../cri/types';
import { capabilityAsks, type HandlerEntry, type PodFacts, type RoutingTable } from './select';

/** Capabilities of a backend kind that is not running in this process (used by offline `route --explain`). */
export const NO_CAPABILITIES: BackendCapabilities = {
  hostNetwork: false,
  hostPid: false,
  hostIpc: false,
  privileged: false,
  targetPidNamespace: false,
  recursiveReadOnlyMounts: false,
  userNamespaces: false,
};

export function buildRoutingTable(
  config: Config,
  capabilitiesOf: (kind: BackendKind) => BackendCapabilities,
  /** Whether a backend kind serves pods; by default what the config says (the daemon passes what it runs). */
  isEnabled: (kind: BackendKind) => boolean = (kind) => config.backends[kind]?.enabled ?? false,
): RoutingTable {
  const handlers = new Map<string, HandlerEntry>();
  for (const [name, h] of Object.entries(config.handlers)) {
    handlers.set(name, {
      name,
      backend: h.backend,
      enabled: isEnabled(h.backend),
      capabilities: capabilitiesOf(h.backend),
    });
  }
  return {
    handlers,
    defaultHandler: config.defaultHandler,
    osContainerHandler: config.routing.osContainerHandler,
    untrustedHandler: config.routing.untrustedHandler,
    hostNamespaceHandler: config.routing.hostNamespaceHandler,
    rules: config.routing.rules,
    annotationPolicy: config.routing.annotationPolicy,
  };
}

export function podFacts(config: cri.PodSandboxConfig, runtimeHandler: string): PodFacts {
  return {
    runtimeHandler,
    namespace: config.metadata?.namespace ?? '',
    labels: config.labels ?? {},
    annotations: config.annotations ?? {},
    ...capabilityAsks(config.linux?.security_context),
  };
}
