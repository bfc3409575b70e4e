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

/** Privileged pods: refused by design on rkt (the VM runs them privileged inside its guest). */
const PRIVILEGED_REFUSED: Expectation = { refuse: 'security_context.privileged' };

/** Mounts reach a VM guest as copies: no mount event crosses, so shared/slave propagation is refused by design. */
const VM_PROPAGATION_REFUSED: Expectation = { refuse: 'propagation' };

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
  'image/predefined-group': { docker: DOCKER_IMAGES },
  'image/pull-digest': {
    docker: { todo: 'issue #17: repo digests name the mirror (127.0.0.1:5000/…), not the reference pulled' },
  },
  // --- security context, namespaces, mount propagation, sysctls, devices, volumes, streaming (conformance-b) ---
  'security/run-as-user': { docker: DOCKER_IMAGES },
  'security/run-as-username': { docker: DOCKER_IMAGES },
  'security/run-as-group': { docker: DOCKER_IMAGES },
  'security/run-as-group-without-user': { docker: DOCKER_IMAGES },
  'security/supplemental-groups': { docker: DOCKER_IMAGES },
  'security/readonly-rootfs-false': { docker: DOCKER_IMAGES },
  'security/readonly-rootfs-true': { docker: DOCKER_IMAGES },
  'security/masked-paths': { docker: DOCKER_IMAGES },
  'security/readonly-paths': { docker: DOCKER_IMAGES },
  'security/privileged-true': { docker: DOCKER_IMAGES, rkt: PRIVILEGED_REFUSED },
  'security/privileged-false': { docker: DOCKER_IMAGES },
  'security/capability-add': { docker: DOCKER_IMAGES },
  'security/capability-drop': { docker: DOCKER_IMAGES },
  'security/capability-add-all': { docker: DOCKER_IMAGES },
  'security/capability-drop-all': { docker: DOCKER_IMAGES },
  'security/no-new-privs-true': { docker: DOCKER_IMAGES },
  'security/no-new-privs-false': { docker: DOCKER_IMAGES },
  'seccomp/unconfined': { docker: DOCKER_IMAGES },
  'seccomp/localhost': { docker: DOCKER_IMAGES },
  'seccomp/runtime-default': { docker: DOCKER_IMAGES },
  'seccomp/nil': { docker: DOCKER_IMAGES },
  'seccomp/unconfined-sethostname-sys-admin': { docker: DOCKER_IMAGES },
  'seccomp/localhost-blocks-sethostname': { docker: DOCKER_IMAGES },
  'seccomp/privileged-ignores-profile': { docker: DOCKER_IMAGES, rkt: PRIVILEGED_REFUSED },
  'seccomp/legacy-unconfined': { docker: DOCKER_IMAGES },
  'seccomp/legacy-runtime-default': { docker: DOCKER_IMAGES },
  'seccomp/legacy-docker-default': { docker: DOCKER_IMAGES },
  'seccomp/legacy-docker-default-sethostname-sys-admin': { docker: DOCKER_IMAGES },
  'seccomp/legacy-docker-default-blocks-sethostname': { docker: DOCKER_IMAGES },
  'seccomp/legacy-localhost': { docker: DOCKER_IMAGES },
  'seccomp/legacy-without-localhost-prefix': { docker: DOCKER_IMAGES },
  'namespace/host-pid': {
    docker: DOCKER_IMAGES,
    rkt: { refuse: 'namespace_options.pid' },
    vm: { refuse: 'namespace_options.pid' },
  },
  'namespace/host-ipc-true': {
    docker: DOCKER_IMAGES,
    rkt: { refuse: 'namespace_options.ipc' },
    vm: { refuse: 'namespace_options.ipc' },
  },
  'namespace/host-ipc-false': { docker: DOCKER_IMAGES },
  'namespace/pod-pid': { docker: DOCKER_IMAGES },
  'namespace/container-pid': { docker: DOCKER_IMAGES },
  'namespace/host-network-true': { docker: DOCKER_IMAGES, vm: { refuse: 'namespace_options.network' } },
  'namespace/host-network-false': { docker: DOCKER_IMAGES },
  'sysctl/safe': { docker: DOCKER_IMAGES },
  'sysctl/unsafe': { docker: DOCKER_IMAGES },
  'sysctl/net': { docker: DOCKER_IMAGES },
  'volume/host-path': { docker: DOCKER_IMAGES },
  'volume/symlinked-host-path': { docker: DOCKER_IMAGES },
  'device/rwm': {
    docker: DOCKER_IMAGES,
    rkt: { refuse: 'devices' },
    vm: { todo: 'issue #18: CRI devices are not created in the guest (the container starts without them)' },
  },
  'device/read-only': {
    docker: DOCKER_IMAGES,
    rkt: { refuse: 'devices' },
    vm: { todo: 'issue #18: CRI devices are not created in the guest (the container starts without them)' },
  },
  'mount-propagation/rprivate': {
    docker: DOCKER_IMAGES,
    rkt: PRIVILEGED_REFUSED,
    vm: { todo: 'issue #18: an assertion on the copied mount fails (not yet diagnosed; the guest holds a copy)' },
  },
  'mount-propagation/rshared': { docker: DOCKER_IMAGES, rkt: PRIVILEGED_REFUSED, vm: VM_PROPAGATION_REFUSED },
  'mount-propagation/rslave': { docker: DOCKER_IMAGES, rkt: PRIVILEGED_REFUSED, vm: VM_PROPAGATION_REFUSED },
  'streaming/exec': { docker: DOCKER_IMAGES },
  'streaming/exec-tty-stdin': { docker: DOCKER_IMAGES },
  'streaming/attach': { docker: DOCKER_IMAGES },
  'streaming/portforward': { docker: DOCKER_IMAGES },
  'streaming/portforward-host-network': { docker: DOCKER_IMAGES, vm: { refuse: 'namespace_options.network' } },
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
