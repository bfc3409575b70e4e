/**
 * src/cri/list-encoding.ts: list replies built from cached per-entry bytes are byte for byte what protobufjs
 * encodes for the whole reply, and an entry is encoded once for as long as it is the same object.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { entryCachingSerializer, withListEncoding } from '../../src/cri/list-encoding';
import { loadCriProto } from '../../src/cri/proto';

type Method = grpc.MethodDefinition<unknown, unknown>;
const service = loadCriProto().runtime.v1.RuntimeService.service as unknown as Record<string, Method>;

function container(i: number): Record<string, unknown> {
  return {
    id: `${i}`.padStart(64, 'c'),
    pod_sandbox_id: 'p'.repeat(64),
    metadata: { name: `app-${i}`, attempt: i % 3 },
    image: { image: 'registry.local/busybox:1.36', annotations: {} },
    image_ref: `sha256:${'a'.repeat(64)}`,
    state: i % 2 ? 'CONTAINER_RUNNING' : 'CONTAINER_EXITED',
    created_at: String(1_700_000_000_000_000_000n + BigInt(i)),
    labels: { 'io.kubernetes.container.name': `app-${i}`, tier: 'x'.repeat(i) },
    annotations: i % 4 ? { note: 'ünïcode ✓' } : {},
    image_id: '',
  };
}

test('ListContainers and ListPodSandbox replies are byte-identical to a whole-reply encoding', () => {
  const lc = service.ListContainers as Method;
  const enc = entryCachingSerializer('containers', lc.responseSerialize);
  const entries = Array.from({ length: 40 }, (_, i) => container(i));
  const whole = lc.responseSerialize({ containers: entries });
  assert.deepEqual(enc({ containers: entries }), whole);
  assert.deepEqual(enc({ containers: entries }), whole, 'again, from the cache');
  assert.deepEqual(enc({ containers: [] }), lc.responseSerialize({ containers: [] }));
  const decoded = lc.responseDeserialize(enc({ containers: entries.slice(3, 9) })) as { containers: { id: string }[] };
  assert.deepEqual(
    decoded.containers.map((c) => c.id),
    entries.slice(3, 9).map((c) => c.id),
  );

  const ls = service.ListPodSandbox as Method;
  const pods = Array.from({ length: 5 }, (_, i) => ({
    id: `${i}`.padStart(64, 's'),
    metadata: { name: `pod-${i}`, uid: `uid-${i}`, namespace: 'default', attempt: 0 },
    state: 'SANDBOX_READY',
    created_at: '1700000000000000000',
    labels: { app: `${i}` },
    annotations: {},
    runtime_handler: i % 2 ? 'vm' : 'runc',
  }));
  const sEnc = entryCachingSerializer('items', ls.responseSerialize);
  assert.deepEqual(sEnc({ items: pods }), ls.responseSerialize({ items: pods }));
});

test('an entry is encoded once while it is the same object; a changed entry (a new object) anew', () => {
  const lc = service.ListContainers as Method;
  let calls = 0;
  const counting = (v: unknown): Buffer => {
    calls++;
    return lc.responseSerialize(v);
  };
  const enc = entryCachingSerializer('containers', counting);
  const entries = Array.from({ length: 10 }, (_, i) => container(i));
  enc({ containers: entries });
  assert.equal(calls, 10);
  enc({ containers: entries });
  enc({ containers: entries.slice(2) });
  assert.equal(calls, 10, 'kept entries cost no encoding');
  const changed = { ...entries[0], state: 'CONTAINER_EXITED' };
  const out = enc({ containers: [changed, ...entries.slice(1)] });
  assert.equal(calls, 11);
  assert.deepEqual(out, lc.responseSerialize({ containers: [changed, ...entries.slice(1)] }));
});

test('only the two list methods are wrapped, and a reply with other fields is encoded as a whole', () => {
  const wrapped = withListEncoding(service as unknown as grpc.ServiceDefinition) as unknown as Record<string, Method>;
  assert.notEqual(wrapped.ListContainers?.responseSerialize, service.ListContainers?.responseSerialize);
  assert.notEqual(wrapped.ListPodSandbox?.responseSerialize, service.ListPodSandbox?.responseSerialize);
  assert.equal(wrapped.Version, service.Version);
  assert.equal(wrapped.ListContainerStats, service.ListContainerStats);
  let whole = 0;
  const enc = entryCachingSerializer('containers', (v) => {
    whole++;
    return (service.ListContainers as Method).responseSerialize(v);
  });
  enc({ containers: [container(1)], other: 1 });
  assert.equal(whole, 1);
});
