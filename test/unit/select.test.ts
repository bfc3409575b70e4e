import { test } from 'node:test';
import assert from 'node:assert/strict';
import { select, type PodFacts, type RoutingTable, type HandlerEntry } from '../../src/router/select';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/errors';
import { ALL_CAPS } from '../helpers/fake-backend';
import { NO_CAPABILITIES } from '../../src/router/table';

const h = (name: string, backend: HandlerEntry['backend'], enabled = true, caps = ALL_CAPS): [string, HandlerEntry] => [
  name,
  { name, backend, enabled, capabilities: caps },
];

function table(over: Partial<RoutingTable> = {}): RoutingTable {
  return {
    handlers: new Map([
      h('runc', 'runc'),
      h('runc-b', 'runc'),
      h('vm', 'vm', true, NO_CAPABILITIES),
      h('docker', 'docker'),
      h('rkt', 'rkt', false),
    ]),
    defaultHandler: 'runc',
    osContainerHandler: 'docker',
    untrustedHandler: 'vm',
    hostNamespaceHandler: 'runc',
    rules: [],
    annotationPolicy: [{ namespaces: ['*'], handlers: ['*'] }],
    ...over,
  };
}

function pod(over: Partial<PodFacts> = {}): PodFacts {
  return {
    runtimeHandler: '',
    namespace: 'default',
    labels: {},
    annotations: {},
    privileged: false,
    hostNetwork: false,
    hostPid: false,
    hostIpc: false,
    ...over,
  };
}

test('the default handler serves pods nothing else routes', () => {
  assert.deepEqual(select(pod(), table()), { handler: 'runc', backend: 'runc', reason: 'default' });
});

test('runtime_handler wins over annotations and rules', () => {
  const t = table({ rules: [{ name: 'all', handler: 'docker', match: {} }] });
  const s = select(pod({ runtimeHandler: 'runc-b', annotations: { 'crimux.io/runtime': 'vm' } }), t);
  assert.deepEqual(s, { handler: 'runc-b', backend: 'runc', reason: 'runtime_handler' });
});

test('annotations: crimux.io/runtime, then Frakti OSContainer, then untrusted-workload', () => {
  assert.equal(
    select(pod({ annotations: { 'crimux.io/runtime': 'docker' } }), table()).reason,
    'annotation crimux.io/runtime',
  );
  const frakti = select(pod({ annotations: { 'runtime.frakti.alpha.kubernetes.io/OSContainer': 'true' } }), table());
  assert.equal(frakti.handler, 'docker');
  const untrusted = select(pod({ annotations: { 'io.kubernetes.cri.untrusted-workload': 'true' } }), table());
  assert.deepEqual([untrusted.handler, untrusted.backend], ['vm', 'vm']);
  const both = select(
    pod({
      annotations: { 'crimux.io/runtime': 'runc-b', 'io.kubernetes.cri.untrusted-workload': 'true' },
    }),
    table(),
  );
  assert.equal(both.handler, 'runc-b');
  assert.equal(
    select(pod({ annotations: { 'io.kubernetes.cri.untrusted-workload': 'false' } }), table()).reason,
    'default',
  );
});

test('annotations win over rules; rules over the default; first matching rule wins', () => {
  const t = table({
    rules: [
      { name: 'batch', handler: 'docker', match: { namespaces: ['batch'], labels: { tier: 'x' } } },
      { name: 'batch-all', handler: 'runc-b', match: { namespaces: ['batch'] } },
    ],
  });
  assert.equal(select(pod({ namespace: 'batch', labels: { tier: 'x' } }), t).reason, 'rule batch');
  assert.equal(select(pod({ namespace: 'batch' }), t).reason, 'rule batch-all');
  assert.equal(select(pod({ namespace: 'other' }), t).reason, 'default');
  assert.equal(
    select(pod({ namespace: 'batch', annotations: { 'crimux.io/runtime': 'vm' } }), t).reason,
    'annotation crimux.io/runtime',
  );
});

test('rules match on privileged and host namespaces', () => {
  const t = table({ rules: [{ name: 'hostnet', handler: 'docker', match: { hostNetwork: true } }] });
  assert.equal(select(pod({ hostNetwork: true }), t).handler, 'docker');
  assert.equal(select(pod(), t).handler, 'runc');
});

test('annotation policy gates which namespaces may choose which handlers', () => {
  const t = table({ annotationPolicy: [{ namespaces: ['trusted'], handlers: ['docker'] }] });
  assert.equal(
    select(pod({ namespace: 'trusted', annotations: { 'crimux.io/runtime': 'docker' } }), t).handler,
    'docker',
  );
  assert.throws(
    () => select(pod({ namespace: 'trusted', annotations: { 'crimux.io/runtime': 'vm' } }), t),
    (e: unknown) => e instanceof FailedPreconditionError && /may not choose handler "vm"/.test(e.message),
  );
  assert.throws(
    () =>
      select(pod({ namespace: 'dev', annotations: { 'runtime.frakti.alpha.kubernetes.io/OSContainer': 'true' } }), t),
    FailedPreconditionError,
  );
  // RuntimeClass is the cluster admin's choice, not the pod author's: the policy does not apply.
  assert.equal(select(pod({ namespace: 'dev', runtimeHandler: 'vm' }), t).handler, 'vm');
});

test('unknown and disabled handlers are refused, naming the configured ones', () => {
  assert.throws(
    () => select(pod({ runtimeHandler: 'kata' }), table()),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /unknown handler "kata"/.test(e.message) &&
      /runc, runc-b, vm, docker/.test(e.message),
  );
  assert.throws(
    () => select(pod({ runtimeHandler: 'rkt' }), table()),
    (e: unknown) => e instanceof FailedPreconditionError && /disabled rkt backend/.test(e.message),
  );
  assert.throws(() => select(pod({ annotations: { 'crimux.io/runtime': 'nope' } }), table()), InvalidArgumentError);
});

test('a VM cannot honour host namespaces: explicit RuntimeClass is refused, other routes fall back', () => {
  assert.throws(
    () => select(pod({ runtimeHandler: 'vm', hostNetwork: true }), table()),
    (e: unknown) => e instanceof InvalidArgumentError && /hostNetwork/.test(e.message),
  );
  const s = select(pod({ hostPid: true, annotations: { 'io.kubernetes.cri.untrusted-workload': 'true' } }), table());
  assert.deepEqual(s, { handler: 'runc', backend: 'runc', reason: 'host-namespaces (was vm)' });
  assert.throws(
    () =>
      select(
        pod({ privileged: true, annotations: { 'crimux.io/runtime': 'vm' } }),
        table({ hostNamespaceHandler: '' }),
      ),
    InvalidArgumentError,
  );
});

test('the default annotation policy (empty) denies every annotation route, naming the policy key', () => {
  const t = table({ annotationPolicy: [] });
  const cases: Record<string, string>[] = [
    { 'crimux.io/runtime': 'docker' },
    { 'runtime.frakti.alpha.kubernetes.io/OSContainer': 'true' },
    { 'io.kubernetes.cri.untrusted-workload': 'true' },
  ];
  for (const annotations of cases) {
    assert.throws(
      () => select(pod({ annotations }), t),
      (e: unknown) => e instanceof FailedPreconditionError && /routing\.annotationPolicy/.test(e.message),
    );
  }
  // Pods without routing annotations are unaffected.
  assert.equal(select(pod(), t).reason, 'default');
});

test('a pinned rule cannot be left by annotation, RuntimeClass or the host-namespace fallback', () => {
  const t = table({ rules: [{ name: 'tenants-vm', handler: 'vm', pin: true, match: { namespaces: ['tenants'] } }] });
  assert.deepEqual(select(pod({ namespace: 'tenants' }), t), {
    handler: 'vm',
    backend: 'vm',
    reason: 'pinned rule tenants-vm',
  });
  // Even with an allow-all annotation policy the pin holds.
  assert.throws(
    () => select(pod({ namespace: 'tenants', annotations: { 'crimux.io/runtime': 'runc' } }), t),
    (e: unknown) =>
      e instanceof FailedPreconditionError && /pinned to handler "vm" by routing rule "tenants-vm"/.test(e.message),
  );
  assert.throws(() => select(pod({ namespace: 'tenants', runtimeHandler: 'runc' }), t), FailedPreconditionError);
  assert.throws(
    () => select(pod({ namespace: 'tenants', hostNetwork: true }), t),
    (e: unknown) => e instanceof InvalidArgumentError && /never left/.test(e.message),
  );
  // Asking for the pinned handler itself is fine; other namespaces route as before.
  assert.equal(select(pod({ namespace: 'tenants', runtimeHandler: 'vm' }), t).handler, 'vm');
  assert.equal(
    select(pod({ namespace: 'tenants', annotations: { 'io.kubernetes.cri.untrusted-workload': 'true' } }), t).handler,
    'vm',
  );
  assert.equal(
    select(pod({ namespace: 'other', annotations: { 'crimux.io/runtime': 'docker' } }), t).handler,
    'docker',
  );
});

test('a pinned rule wins over an earlier unpinned rule', () => {
  const t = table({
    rules: [
      { name: 'all-docker', handler: 'docker', match: {} },
      { name: 'pin', handler: 'vm', pin: true, match: { namespaces: ['tenants'] } },
    ],
  });
  assert.equal(select(pod({ namespace: 'tenants' }), t).reason, 'pinned rule pin');
  assert.equal(select(pod({ namespace: 'x' }), t).reason, 'rule all-docker');
});
