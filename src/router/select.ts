/**
 * Pure routing: which handler (and so which backend) serves a new pod, and why.
 *
 * First, a pinned rule (routing.rules[].pin) that matches the pod decides alone — "pinned rule <name>": a
 * runtime_handler or annotation naming another handler is refused (FailedPrecondition), and a pod the pinned
 * handler cannot honour is refused rather than sent to the host-namespace handler, so a pod author cannot leave
 * the isolation an operator pinned a namespace to.
 *
 * Otherwise precedence, first match wins:
 *   (a) RunPodSandboxRequest.runtime_handler (the pod's RuntimeClass) — "runtime_handler"
 *   (b) pod annotations, gated by the annotation policy (default: empty, so annotations route nothing):
 *         crimux.io/runtime: <handler>                              — "annotation crimux.io/runtime"
 *         runtime.frakti.alpha.kubernetes.io/OSContainer: "true"    — the OS-container handler (Frakti)
 *         io.kubernetes.cri.untrusted-workload: "true"              — the untrusted handler
 *   (c) configured rules (namespace, labels, privileged, host namespaces) — "rule <name>"
 *   (d) the default handler — "default"
 * Then a capability check: when (b)–(d) picked a backend that cannot honour the pod's host namespaces or
 * privilege (a VM), the pod goes to the host-namespace handler instead (Frakti's behaviour, made explicit) —
 * "host-namespaces (was <handler>)". An explicit RuntimeClass is never overridden: it is refused instead.
 *
 * NOTE: select() does no I/O and never creates anything, so `crimux route --explain` can run it offline.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import type { BackendCapabilities, BackendKind } from '../backends/backend';
import type { AnnotationPolicyEntry, RoutingRule } from '../config/types';

export const ANNOTATION_RUNTIME = 'crimux.io/runtime';
export const ANNOTATION_FRAKTI_OS_CONTAINER = 'runtime.frakti.alpha.kubernetes.io/OSContainer';
export const ANNOTATION_UNTRUSTED = 'io.kubernetes.cri.untrusted-workload';

export interface HandlerEntry {
  readonly name: string;
  readonly backend: BackendKind;
  readonly enabled: boolean;
  readonly capabilities: BackendCapabilities;
}

/** Everything select() needs, built from the config (and rebuilt on SIGHUP). */
export interface RoutingTable {
  readonly handlers: ReadonlyMap<string, HandlerEntry>;
  readonly defaultHandler: string;
  readonly osContainerHandler: string;
  readonly untrustedHandler: string;
  readonly hostNamespaceHandler: string;
  readonly rules: readonly RoutingRule[];
  readonly annotationPolicy: readonly AnnotationPolicyEntry[];
}

/** The parts of a RunPodSandboxRequest that routing looks at. */
export interface PodFacts {
  readonly runtimeHandler: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly privileged: boolean;
  readonly hostNetwork: boolean;
  readonly hostPid: boolean;
  readonly hostIpc: boolean;
  /** The pod asks for its own user namespace (userns_options with a mode other than NODE). */
  readonly userNamespace?: boolean;
}

export interface Selection {
  readonly handler: string;
  readonly backend: BackendKind;
  /** Short, stable text for logs, metrics and verbose status. */
  readonly reason: string;
}

export function select(pod: PodFacts, table: RoutingTable): Selection {
  const pinned = table.rules.find((r) => r.pin === true && ruleMatches(r, pod));
  if (pinned) return selectPinned(pod, table, pinned);
  if (pod.runtimeHandler !== '') {
    const h = usable(table, pod.runtimeHandler, 'runtime_handler');
    const missing = missingCapability(pod, h.capabilities);
    if (missing) {
      throw new InvalidArgumentError(`route pod sandbox: handler "${h.name}" (${h.backend}) cannot honour ${missing}`, {
        context: { handler: h.name, field: missing },
      });
    }
    return { handler: h.name, backend: h.backend, reason: 'runtime_handler' };
  }
  const picked = fromAnnotations(pod, table) ??
    fromRules(pod, table) ?? {
      handler: usable(table, table.defaultHandler, 'defaultHandler').name,
      reason: 'default',
    };
  const h = usable(table, picked.handler, picked.reason);
  const missing = missingCapability(pod, h.capabilities);
  if (!missing) return { handler: h.name, backend: h.backend, reason: picked.reason };
  if (table.hostNamespaceHandler === '') {
    throw new InvalidArgumentError(
      `route pod sandbox: handler "${h.name}" (${h.backend}, by ${picked.reason}) cannot honour ${missing}` +
        ' and routing.hostNamespaceHandler is empty',
      { context: { handler: h.name, field: missing } },
    );
  }
  const fallback = usable(table, table.hostNamespaceHandler, 'routing.hostNamespaceHandler');
  const still = missingCapability(pod, fallback.capabilities);
  if (still) {
    throw new InvalidArgumentError(
      `route pod sandbox: host-namespace handler "${fallback.name}" cannot honour ${still} either`,
    );
  }
  return { handler: fallback.name, backend: fallback.backend, reason: `host-namespaces (was ${h.name})` };
}

/** A pinned rule decides alone: any other choice the pod makes is refused, and so is a host-namespace fallback. */
function selectPinned(pod: PodFacts, table: RoutingTable, rule: RoutingRule): Selection {
  const reason = `pinned rule ${rule.name}`;
  const asked = pod.runtimeHandler !== '' ? pod.runtimeHandler : annotationChoice(pod, table)?.handler;
  if (asked !== undefined && asked !== rule.handler) {
    throw new FailedPreconditionError(
      `route pod sandbox: namespace "${pod.namespace}" is pinned to handler "${rule.handler}" by routing rule ` +
        `"${rule.name}"; the pod asks for "${asked}"`,
      { context: { handler: asked, namespace: pod.namespace } },
    );
  }
  const h = usable(table, rule.handler, reason);
  const missing = missingCapability(pod, h.capabilities);
  if (missing) {
    throw new InvalidArgumentError(
      `route pod sandbox: handler "${h.name}" (${h.backend}, by ${reason}) cannot honour ${missing}; ` +
        'a pinned rule is never left for routing.hostNamespaceHandler',
      { context: { handler: h.name, field: missing } },
    );
  }
  return { handler: h.name, backend: h.backend, reason };
}

/** The handler the pod's annotations ask for, before any policy check. */
function annotationChoice(pod: PodFacts, table: RoutingTable): { handler: string; reason: string } | undefined {
  const a = pod.annotations;
  let choice: { handler: string; reason: string } | undefined;
  const own = a[ANNOTATION_RUNTIME];
  if (own !== undefined && own !== '') choice = { handler: own, reason: `annotation ${ANNOTATION_RUNTIME}` };
  else if (a[ANNOTATION_FRAKTI_OS_CONTAINER] === 'true') {
    choice = { handler: table.osContainerHandler, reason: `annotation ${ANNOTATION_FRAKTI_OS_CONTAINER}` };
  } else if (a[ANNOTATION_UNTRUSTED] === 'true') {
    choice = { handler: table.untrustedHandler, reason: `annotation ${ANNOTATION_UNTRUSTED}` };
  }
  return choice;
}

function fromAnnotations(pod: PodFacts, table: RoutingTable): { handler: string; reason: string } | undefined {
  const choice = annotationChoice(pod, table);
  if (!choice) return undefined;
  if (!policyAllows(table.annotationPolicy, pod.namespace, choice.handler)) {
    throw new FailedPreconditionError(
      `route pod sandbox: namespace "${pod.namespace}" may not choose handler "${choice.handler}" by ` +
        `${choice.reason} (routing.annotationPolicy)`,
      { context: { handler: choice.handler, namespace: pod.namespace } },
    );
  }
  return choice;
}

export function policyAllows(policy: readonly AnnotationPolicyEntry[], namespace: string, handler: string): boolean {
  return policy.some(
    (e) =>
      (e.namespaces.includes('*') || e.namespaces.includes(namespace)) &&
      (e.handlers.includes('*') || e.handlers.includes(handler)),
  );
}

function fromRules(pod: PodFacts, table: RoutingTable): { handler: string; reason: string } | undefined {
  const rule = table.rules.find((r) => ruleMatches(r, pod));
  return rule ? { handler: rule.handler, reason: `rule ${rule.name}` } : undefined;
}

export function ruleMatches(rule: RoutingRule, pod: PodFacts): boolean {
  const m = rule.match;
  if (m.namespaces && !m.namespaces.includes(pod.namespace)) return false;
  if (m.labels && !Object.entries(m.labels).every(([k, v]) => pod.labels[k] === v)) return false;
  if (m.privileged !== undefined && m.privileged !== pod.privileged) return false;
  if (m.hostNetwork !== undefined && m.hostNetwork !== pod.hostNetwork) return false;
  if (m.hostPid !== undefined && m.hostPid !== pod.hostPid) return false;
  if (m.hostIpc !== undefined && m.hostIpc !== pod.hostIpc) return false;
  return true;
}

function usable(table: RoutingTable, name: string, via: string): HandlerEntry {
  const h = table.handlers.get(name);
  const configured = [...table.handlers.values()].filter((e) => e.enabled).map((e) => e.name);
  const list = configured.length ? configured.join(', ') : 'none';
  if (!h) {
    throw new InvalidArgumentError(`route pod sandbox: unknown handler "${name}" (from ${via}); configured: ${list}`, {
      context: { handler: name },
    });
  }
  if (!h.enabled) {
    throw new FailedPreconditionError(
      `route pod sandbox: handler "${name}" (from ${via}) uses the disabled ${h.backend} backend; enabled: ${list}`,
      { context: { handler: name } },
    );
  }
  return h;
}

/** What a pod or container asks of its backend's capabilities (BackendCapabilities); targetPid: containers only. */
export type CapabilityAsks = Pick<PodFacts, 'privileged' | 'hostNetwork' | 'hostPid' | 'hostIpc' | 'userNamespace'> & {
  readonly targetPid?: boolean;
};

/** The parts of a pod's or container's security context that ask something of its backend. */
export interface AskingSecurityContext {
  readonly privileged?: boolean | null;
  readonly namespace_options?: {
    readonly network?: unknown;
    readonly pid?: unknown;
    readonly ipc?: unknown;
    readonly userns_options?: { readonly mode?: unknown } | null;
  } | null;
}

/**
 * What a security context asks of its backend, read one way for pods and containers. A user namespace is asked
 * for when userns_options is present with a mode other than NODE (an unset mode reads as POD, proto3's default).
 * pid=TARGET is a container's ask only (CreateContainer adds it).
 */
export function capabilityAsks(sc: AskingSecurityContext | null | undefined): CapabilityAsks {
  const ns = sc?.namespace_options;
  const userns = ns?.userns_options;
  return {
    privileged: sc?.privileged ?? false,
    hostNetwork: ns?.network === 'NODE',
    hostPid: ns?.pid === 'NODE',
    hostIpc: ns?.ipc === 'NODE',
    userNamespace: !!userns && (userns.mode ?? 'POD') !== 'NODE',
  };
}

/**
 * The one check of host namespaces and privilege against a backend's capabilities, for pods (here, while routing)
 * and for their containers (router/containers.ts): the field a backend cannot honour, or undefined.
 */
export function missingCapability(asks: CapabilityAsks, c: BackendCapabilities): string | undefined {
  if (asks.hostNetwork && !c.hostNetwork) return 'linux.security_context.namespace_options.network=NODE (hostNetwork)';
  if (asks.hostPid && !c.hostPid) return 'linux.security_context.namespace_options.pid=NODE (hostPID)';
  if (asks.hostIpc && !c.hostIpc) return 'linux.security_context.namespace_options.ipc=NODE (hostIPC)';
  if (asks.privileged && !c.privileged) return 'linux.security_context.privileged';
  if (asks.targetPid && !c.targetPidNamespace) return 'linux.security_context.namespace_options.pid=TARGET';
  // Refused, never ignored: a pod that asked for its own user namespace and got none would run as the host's root.
  if (asks.userNamespace && !c.userNamespaces) return 'linux.security_context.namespace_options.userns_options';
  return undefined;
}
