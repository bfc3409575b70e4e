/**
 * Pod metadata travels to every CNI plugin inside one environment variable, CNI_ARGS="K=V;K=V;…"
 * (src/network/cni-types.ts), for every backend that uses CNI. A `;` in a pod's name, namespace or uid would add
 * keys of the pod author's choosing (`name;IP=10.88.0.7` asks host-local for a chosen address) and a `=` makes
 * libcni-style parsers refuse the whole list. The kubelet never sends either (Kubernetes names are DNS labels and
 * UIDs are UUIDs), so such a request is refused before anything is created.
 */
import { InvalidArgumentError } from '../errors';
import type * as cri from '../cri/types';

const CNI_ARGS_SEPARATORS = /[;=]/;

export function checkCniArgValues(md: cri.PodSandboxMetadata): void {
  for (const [field, value] of [
    ['config.metadata.name', md.name],
    ['config.metadata.namespace', md.namespace],
    ['config.metadata.uid', md.uid],
  ] as const) {
    if (CNI_ARGS_SEPARATORS.test(value)) {
      throw new InvalidArgumentError(`validate ${field}: must not contain ";" or "=" (CNI_ARGS separators)`, {
        context: { field },
      });
    }
  }
}
