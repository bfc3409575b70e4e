/**
 * The one place where a pod's facts (what its backend reports, SandboxFacts) become CRI replies: the
 * PodSandboxStatus of PodSandboxStatus and events, and the PodSandbox of ListPodSandbox. A pod is READY while its
 * backend says its infrastructure runs; its network status lists the primary IP first, the others as
 * additional_ips; namespace modes a backend does not report are the CRI's default, POD.
 */
import type { PodNamespaceModes, SandboxFacts } from '../backends/backend';
import type * as cri from '../cri/types';

const POD_NAMESPACES: PodNamespaceModes = { network: 'POD', pid: 'POD', ipc: 'POD' };

export function sandboxState(f: SandboxFacts): cri.PodSandboxState {
  return f.ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

/** A ListPodSandbox entry. */
export function sandboxEntry(f: SandboxFacts): cri.PodSandbox {
  return {
    id: f.id,
    metadata: f.metadata,
    state: sandboxState(f),
    created_at: f.createdAtNs,
    labels: { ...f.labels },
    annotations: { ...f.annotations },
    runtime_handler: f.handler,
  };
}

/** PodSandboxStatusResponse.status. */
export function sandboxStatus(f: SandboxFacts): cri.PodSandboxStatus {
  const ips = f.ips ?? [];
  const ns = f.namespaces ?? POD_NAMESPACES;
  return {
    ...sandboxEntry(f),
    network: { ip: ips[0] ?? '', additional_ips: ips.slice(1).map((ip) => ({ ip })) },
    linux: { namespaces: { options: { network: ns.network, pid: ns.pid, ipc: ns.ipc } } },
  };
}
