/**
 * The security part of a runc container's OCI spec: the CRI LinuxContainerSecurityContext policy (capabilities,
 * privileged mode, no_new_privs, seccomp, masked and read-only paths) lives in src/host/container-policy.ts,
 * shared with the vm backend; what is runc-specific (which namespace options it implements) stays here.
 */
import { InvalidArgumentError } from '../../errors';

// The policy itself is shared with the vm backend's guest (one rule, one place): src/host/container-policy.ts.
export { securityPlan, type SecurityPlan } from '../../host/container-policy';

/** Refuses namespace options the runc backend does not implement, naming the field. */
export function checkNamespaceOptions(
  ns: { network: string; pid: string; ipc: string; target_id: string; userns_options: unknown } | null | undefined,
  field: string,
): void {
  if (!ns) return;
  if (ns.pid === 'TARGET') {
    throw new InvalidArgumentError(
      `${field}.pid: TARGET (ephemeral container PID namespaces) is not supported by the runc backend`,
    );
  }
  if (ns.network === 'TARGET' || ns.ipc === 'TARGET') {
    throw new InvalidArgumentError(`${field}: TARGET is only meaningful for pid`);
  }
  // User namespaces: refused by the router, which holds every pod and container to BackendCapabilities.
}
