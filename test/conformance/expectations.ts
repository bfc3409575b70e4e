/**
 * What each handler is expected to do with each conformance spec, filled in from what the suite observed:
 * - `pass` (the default for every spec not listed): the spec passes as upstream's does;
 * - `{ refuse: FIELD }`: the handler refuses by design (documented in the README's backends table); the spec
 *   must end in InvalidArgument or Unimplemented whose message names FIELD, and passing instead is a failure;
 * - `{ todo: 'issue #N: reason' }`: a known gap; the spec still runs and is reported as a node:test todo, so it
 *   neither hides nor fails CI. runc and runc-b never carry a todo (checked below).
 *
 * Keys are spec ids (`area/what`, see specs/*.ts). One line per spec and handler keeps parallel edits mergeable.
 */
import type { HandlerName } from './handlers';

export type Expectation = 'pass' | { readonly refuse: string } | { readonly todo: string };

type Table = Readonly<Record<string, Partial<Record<HandlerName, Expectation>>>>;

/**
 * A machine limit, not a crimux gap: Docker Engine 20.10 gives a privileged container every capability the kernel
 * knows, and this machine's bounding set lacks CAP_SYS_RESOURCE, so runc refuses to start any privileged container
 * ("unable to apply caps: operation not permitted"). crimux passes Privileged through unchanged; on a node with a
 * full bounding set these specs run as on runc.
 */
const DOCKER_PRIVILEGED_HERE: Expectation = {
  todo: 'issue #17: this machine lacks CAP_SYS_RESOURCE, and Docker 20.10 asks runc for every capability when privileged',
};

/** Privileged pods: refused by design on rkt (the VM runs them privileged inside its guest). */
const PRIVILEGED_REFUSED: Expectation = { refuse: 'security_context.privileged' };

/** Mounts reach a VM guest as copies: no mount event crosses, so shared/slave propagation is refused by design. */
const VM_PROPAGATION_REFUSED: Expectation = { refuse: 'propagation' };

export const EXPECTATIONS: Table = {
  // --- runtime info, pods, networking, containers, logs, exec, stats, images (conformance) ---------------
  // --- security context, namespaces, mount propagation, sysctls, devices, volumes, streaming (conformance-b) ---
  'security/privileged-true': { docker: DOCKER_PRIVILEGED_HERE, rkt: PRIVILEGED_REFUSED },
  'seccomp/privileged-ignores-profile': { docker: DOCKER_PRIVILEGED_HERE, rkt: PRIVILEGED_REFUSED },
  'namespace/host-pid': {
    rkt: { refuse: 'namespace_options.pid' },
    vm: { refuse: 'namespace_options.pid' },
  },
  'namespace/host-ipc-true': {
    rkt: { refuse: 'namespace_options.ipc' },
    vm: { refuse: 'namespace_options.ipc' },
  },
  'namespace/host-network-true': { vm: { refuse: 'namespace_options.network' } },
  'device/rwm': {
    rkt: { refuse: 'devices' },
  },
  'device/read-only': {
    rkt: { refuse: 'devices' },
  },
  'mount-propagation/rprivate': {
    docker: DOCKER_PRIVILEGED_HERE,
    rkt: PRIVILEGED_REFUSED,
    vm: {
      todo: 'issue #18: the volume is a copy in the guest, so a directory the container makes in it never reaches the node (needs a shared file system: virtio-fs or 9p)',
    },
  },
  'mount-propagation/rshared': { docker: DOCKER_PRIVILEGED_HERE, rkt: PRIVILEGED_REFUSED, vm: VM_PROPAGATION_REFUSED },
  'mount-propagation/rslave': { docker: DOCKER_PRIVILEGED_HERE, rkt: PRIVILEGED_REFUSED, vm: VM_PROPAGATION_REFUSED },
  'streaming/portforward-host-network': { vm: { refuse: 'namespace_options.network' } },
};

const NEVER_TODO: readonly HandlerName[] = ['runc', 'runc-b'];

/** The expectation of one handler for one spec. */
export function expectationOf(handler: HandlerName, specId: string): Expectation {
  return EXPECTATIONS[specId]?.[handler] ?? 'pass';
}

/** A problem with the table itself (a todo on runc, a todo without an issue number), or undefined. */
export function tableProblem(table: Table = EXPECTATIONS): string | undefined {
  for (const [spec, byHandler] of Object.entries(table)) {
    for (const [handler, exp] of Object.entries(byHandler)) {
      if (typeof exp !== 'object' || !('todo' in exp)) continue;
      if (NEVER_TODO.includes(handler as HandlerName)) return `${spec}: ${handler} may not carry a todo`;
      if (!/^issue #\d+: \S/.test(exp.todo)) return `${spec}: ${handler}: a todo reads "issue #N: reason"`;
    }
  }
  return undefined;
}
