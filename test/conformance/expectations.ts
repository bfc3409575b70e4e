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

const DOCKER_IMAGES: Expectation = {
  todo: "issue #17: images pulled without a runtime handler (as the kubelet pulls) are not in docker's store",
};

export const EXPECTATIONS: Table = {
  // --- runtime info, pods, networking, containers, logs, exec, stats, images (conformance) ---------------
  'networking/dns-config': { docker: DOCKER_IMAGES },
  'networking/hostname': { docker: DOCKER_IMAGES },
  'networking/hostname-empty': { docker: DOCKER_IMAGES },
  'networking/container-port': { docker: DOCKER_IMAGES },
  'networking/host-port': { docker: DOCKER_IMAGES },
  'networking/host-port-from-pod': {
    docker: DOCKER_IMAGES,
    vm: { todo: 'issue #18: a host port is not reached from another VM pod through the node address' },
  },
  'container/create': { docker: DOCKER_IMAGES },
  'container/start': { docker: DOCKER_IMAGES },
  'container/stop': { docker: DOCKER_IMAGES },
  'container/stop-right-after-start': { docker: DOCKER_IMAGES },
  'container/remove-created': { docker: DOCKER_IMAGES },
  'container/remove-running': { docker: DOCKER_IMAGES },
  'container/remove-stopped': { docker: DOCKER_IMAGES },
  'container/exec-sync': { docker: DOCKER_IMAGES },
  'container/exec-sync-timeout': {
    docker: DOCKER_IMAGES,
    rkt: { todo: 'issue #20: the process of a timed-out ExecSync keeps running' },
  },
  'container/list-filters': { docker: DOCKER_IMAGES },
  'idempotence/container-stop-remove-twice': { docker: DOCKER_IMAGES },
  'logs/log': { docker: DOCKER_IMAGES },
  'logs/reopen': {
    docker: DOCKER_IMAGES,
    rkt: { todo: 'issue #20: ReopenContainerLog does not start a new log file' },
  },
  'stats/container': { docker: DOCKER_IMAGES },
  'stats/list-started': { docker: DOCKER_IMAGES },
  'stats/list-nil-filter': { docker: DOCKER_IMAGES },
  'stats/list-three-created': { docker: DOCKER_IMAGES },
  'stats/list-labels': { docker: DOCKER_IMAGES },
  'image/predefined-group': {
    docker: DOCKER_IMAGES,
    vm: { todo: "issue #18: the image's /etc/group supplementary groups are not applied in the guest" },
  },
  'image/pull-digest': {
    docker: { todo: 'issue #17: repo digests name the mirror (127.0.0.1:5000/…), not the reference pulled' },
  },
  // --- security context, namespaces, mount propagation, sysctls, devices, volumes, streaming (conformance-b) ---
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
