/**
 * src/cri/reply-encoding.ts: replies built from cached bytes of their parts (list entries, status objects) are
 * byte for byte what protobufjs encodes for the whole reply, and a part is encoded once for as long as it is the
 * same object.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { CACHED_REPLIES, cachingSerializer, withReplyEncoding } from '../../src/cri/reply-encoding';
import { loadCriProto } from '../../src/cri/proto';

type Method = grpc.MethodDefinition<unknown, unknown>;
const proto = loadCriProto().runtime.v1;
const service = proto.RuntimeService.service as unknown as Record<string, Method>;
const images = proto.ImageService.service as unknown as Record<string, Method>;
const entryCachingSerializer = (field: string, serialize: (v: unknown) => Buffer) =>
  cachingSerializer([[field, 'repeated']], serialize);

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

test('a frozen list is encoded whole once and answered as the same bytes; an unfrozen one is joined anew', () => {
  const lc = service.ListContainers as Method;
  const enc = entryCachingSerializer('containers', lc.responseSerialize);
  const entries = Array.from({ length: 30 }, (_, i) => container(i));
  const whole = lc.responseSerialize({ containers: entries });
  const frozen = Object.freeze([...entries]);
  const first = enc({ containers: frozen });
  assert.deepEqual(first, whole);
  assert.equal(enc({ containers: frozen }), first, 'the same buffer for the same frozen array');
  assert.deepEqual(enc({ containers: Object.freeze([]) }), lc.responseSerialize({ containers: [] }));
  // An unfrozen array may be changed in place between calls: it is joined from its entries every time.
  const open = [...entries];
  const a = enc({ containers: open });
  open.pop();
  const b = enc({ containers: open });
  assert.notEqual(a, b);
  assert.deepEqual(b, lc.responseSerialize({ containers: entries.slice(0, -1) }));
  // A frozen field among others (Status' runtime_handlers) is kept whole within the reply's other parts.
  const st = service.Status as Method;
  const sEnc = cachingSerializer(CACHED_REPLIES.Status!, st.responseSerialize);
  const reply = {
    status: { conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }] },
    runtime_handlers: Object.freeze([{ name: 'runc', features: { recursive_read_only_mounts: true } }, { name: '' }]),
  };
  assert.deepEqual(sEnc(reply), st.responseSerialize(reply));
  assert.deepEqual(sEnc(reply), st.responseSerialize(reply), 'again, from the cache');
});

test('only the cached replies are wrapped, and a reply with other fields is encoded as a whole', () => {
  const wrapped = withReplyEncoding(service as unknown as grpc.ServiceDefinition) as unknown as Record<string, Method>;
  for (const m of ['ListContainers', 'ListPodSandbox', 'PodSandboxStatus', 'ContainerStatus', 'Status']) {
    assert.notEqual(wrapped[m]?.responseSerialize, service[m]?.responseSerialize, m);
  }
  const wrappedImages = withReplyEncoding(images as unknown as grpc.ServiceDefinition) as unknown as Record<
    string,
    Method
  >;
  assert.notEqual(wrappedImages.ImageStatus?.responseSerialize, images.ImageStatus?.responseSerialize);
  assert.notEqual(wrappedImages.ListImages?.responseSerialize, images.ListImages?.responseSerialize);
  assert.equal(wrappedImages.PullImage, images.PullImage);
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

/** Every top-level field of each cached reply, in the order the proto numbers them (what concatenation needs). */
test('CACHED_REPLIES names every field of each reply, in field-number order', () => {
  const all = { ...service, ...images };
  for (const [name, fields] of Object.entries(CACHED_REPLIES)) {
    const method = all[name] as Method & { responseType?: { type?: { field?: { name: string; number: number }[] } } };
    const declared = [...(method.responseType?.type?.field ?? [])].sort((a, b) => a.number - b.number);
    assert.ok(declared.length > 0, `${name}: the loader gives the reply's descriptor`);
    assert.deepEqual(
      fields.map(([f]) => f),
      declared.map((f) => f.name),
      name,
    );
    for (const [f, kind, number] of fields) {
      if (kind === 'int64') assert.equal(number, declared.find((d) => d.name === f)?.number, `${name}.${f}`);
    }
  }
});

test('status replies are byte-identical to a whole-reply encoding, fresh and from the cache', () => {
  const status = {
    id: 's'.repeat(64),
    metadata: { name: 'pod', uid: 'u', namespace: 'default', attempt: 1 },
    state: 'SANDBOX_READY',
    created_at: '1700000000000000000',
    network: { ip: '10.88.0.5', additional_ips: [{ ip: 'fd00::5' }] },
    linux: { namespaces: { options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    labels: { app: 'x' },
    annotations: { note: 'ünïcode ✓' },
    runtime_handler: 'runc',
  };
  const c = (i: number) => ({ ...container(i), exit_code: i, reason: i % 2 ? '' : 'Completed', mounts: [] });
  const cases: [Method, Record<string, unknown>[]][] = [
    [
      service.PodSandboxStatus as Method,
      [
        { status, info: {}, containers_statuses: [c(1), c(2)], timestamp: '1700000000000000123' },
        { status, info: { x: '{"a":1}' }, containers_statuses: [], timestamp: '0' },
        { status, info: {}, containers_statuses: [c(2)], timestamp: '1700000000000000999' },
      ],
    ],
    [
      service.ContainerStatus as Method,
      [
        { status: c(3), info: {} },
        { status: c(3), info: { verbose: '{}' } },
      ],
    ],
    [
      service.Status as Method,
      [
        {
          status: { conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }] },
          info: {},
          runtime_handlers: [{ name: '', features: { recursive_read_only_mounts: true, user_namespaces: false } }],
          features: { supplemental_groups_policy: false, user_namespaces_host_network: false },
        },
      ],
    ],
    [
      images.ImageStatus as Method,
      [{ image: { id: 'sha256:1', repo_tags: ['a:1'], repo_digests: [], size: '12345', pinned: false }, info: {} }],
    ],
    [images.ListImages as Method, [{ images: [{ id: 'sha256:1', repo_tags: ['a:1'], size: '1' }] }, { images: [] }]],
  ];
  for (const [method, replies] of cases) {
    const name = method.path.split('/').pop() ?? '';
    const enc = cachingSerializer(CACHED_REPLIES[name] ?? [], method.responseSerialize);
    for (const r of replies) {
      assert.deepEqual(enc(r), method.responseSerialize(r), `${name} fresh`);
      assert.deepEqual(enc(r), method.responseSerialize(r), `${name} cached`);
    }
  }
});

test('a status object is encoded once while it is the same object; the timestamp by hand at every call', () => {
  const m = service.PodSandboxStatus as Method;
  const seen: string[] = [];
  const enc = cachingSerializer(CACHED_REPLIES.PodSandboxStatus ?? [], (v) => {
    seen.push(Object.keys(v as object).join());
    return m.responseSerialize(v);
  });
  const status = { id: 'p', state: 'SANDBOX_NOTREADY' };
  for (const timestamp of ['1', '2', '0', '127', '128', '1700000000000000123', '9223372036854775807']) {
    const r = { status, info: {}, containers_statuses: [], timestamp };
    assert.deepEqual(enc(r), m.responseSerialize(r), timestamp);
  }
  assert.deepEqual(seen, ['status'], 'the timestamp never goes through protobufjs');
  // What is not a plain non-negative decimal is left to protobufjs, which judges it as before.
  for (const timestamp of ['-5', '18446744073709551615', 42]) {
    const r = { status, info: {}, containers_statuses: [], timestamp };
    assert.deepEqual(enc(r), m.responseSerialize(r), String(timestamp));
  }
  assert.equal(seen.length, 4);
});
