/**
 * The replies the kubelet asks for most (issue #21) encoded from cached bytes of their parts. Lists are relisted
 * every second and statuses polled; their entries and status objects are kept in memory between changes
 * (src/router/views.ts, the image keep, the Status memo) and come back as the same objects call after call, yet
 * each reply encoded them again (protobufjs's fromObject and encode): at 100 containers that was most of
 * ListContainers' time, and a tenth of a status call's.
 *
 * Why concatenation is exact: a message's encoding is the concatenation of its fields' records, in field-number
 * order (protobufjs writes them sorted by number), and each element of a repeated message field is its own
 * record (tag, length, bytes). So a reply is the concatenation, in field order, of the encodings of one-field
 * replies: a message or map field's bytes are computed once per object, a repeated field's once per element
 * object (WeakMaps: a changed value is a new object, so it is encoded anew, and dropped objects are collected
 * with their bytes); scalars are encoded at every call. An empty map encodes to nothing and is skipped.
 * Objects are never modified after they are shaped (src/router/shape-*.ts and the handlers build new ones).
 *
 * A frozen array (the merged lists of src/router/lists.ts, answered again while nothing changed) cannot change,
 * so its whole field is kept as one buffer: a relist of 1,000 unchanged containers is then the same bytes
 * without joining 1,000 parts.
 */
import type * as grpc from '@grpc/grpc-js';

type Definition = grpc.ServiceDefinition<grpc.UntypedServiceImplementation>;
type AnyMethod = grpc.MethodDefinition<unknown, unknown>;

export type FieldKind = 'message' | 'map' | 'repeated' | 'scalar' | 'int64';
/**
 * A reply's top-level fields in field-number order, as proto/runtime/v1/api.proto declares them; an int64 field
 * (encoded here, without protobufjs) carries its number.
 */
export type ReplyFields = readonly (readonly [name: string, kind: FieldKind, number?: number])[];

/** The replies encoded through caches (RuntimeService and ImageService method names do not overlap). */
export const CACHED_REPLIES: Readonly<Record<string, ReplyFields>> = {
  ListPodSandbox: [['items', 'repeated']],
  ListContainers: [['containers', 'repeated']],
  PodSandboxStatus: [
    ['status', 'message'],
    ['info', 'map'],
    ['containers_statuses', 'repeated'],
    ['timestamp', 'int64', 4],
  ],
  ContainerStatus: [
    ['status', 'message'],
    ['info', 'map'],
  ],
  Status: [
    ['status', 'message'],
    ['info', 'map'],
    ['runtime_handlers', 'repeated'],
    ['features', 'message'],
  ],
  ListImages: [['images', 'repeated']],
  ImageStatus: [
    ['image', 'message'],
    ['info', 'map'],
  ],
};

/** A reply serializer that reuses the bytes of the parts it has encoded before; other shapes go whole. */
export function cachingSerializer(fields: ReplyFields, serialize: (value: unknown) => Buffer): (v: unknown) => Buffer {
  const known = new Set(fields.map(([name]) => name));
  const caches = new Map(fields.map(([name]) => [name, new WeakMap<object, Buffer>()]));
  const wholeFields = new WeakMap<object, Buffer>();
  const bytesOf = (field: string, key: object, one: unknown): Buffer => {
    const cache = caches.get(field)!;
    let bytes = cache.get(key);
    if (!bytes) cache.set(key, (bytes = serialize({ [field]: one })));
    return bytes;
  };
  const elementBytes = (field: string, e: unknown): Buffer =>
    typeof e === 'object' && e !== null ? bytesOf(field, e, [e]) : serialize({ [field]: [e] });
  return (value: unknown): Buffer => {
    const reply = value as Record<string, unknown> | null | undefined;
    if (!reply || typeof reply !== 'object' || Object.keys(reply).some((k) => !known.has(k))) return serialize(value);
    const parts: Buffer[] = [];
    let total = 0;
    for (const [field, kind, number] of fields) {
      const v = reply[field];
      if (v === undefined || v === null) continue;
      const int64 = kind === 'int64' && number ? int64Record(number, v) : undefined;
      if (int64) {
        parts.push(int64);
      } else if (kind === 'scalar' || kind === 'int64' || typeof v !== 'object') {
        parts.push(serialize({ [field]: v }));
      } else if (kind === 'repeated') {
        if (!Array.isArray(v)) return serialize(value);
        if (!Object.isFrozen(v)) {
          for (const e of v as unknown[]) parts.push(elementBytes(field, e));
          continue;
        }
        let whole = wholeFields.get(v);
        if (!whole) wholeFields.set(v, (whole = Buffer.concat((v as unknown[]).map((e) => elementBytes(field, e)))));
        parts.push(whole);
      } else {
        if (kind === 'map' && Object.keys(v).length === 0) continue;
        parts.push(bytesOf(field, v, v));
      }
    }
    for (const p of parts) total += p.length;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
  };
}

const DECIMAL_INT64 = /^[0-9]{1,19}$/;
const INT64_END = 1n << 63n;

/**
 * The record of an int64 field holding a non-negative value given as a decimal string (how the handlers give
 * timestamps): its tag, then the value as a varint. PodSandboxStatus carries the time of the call, so this is
 * encoded at every call, and protobufjs's way (an object, a Long parsed from the string) cost several
 * microseconds of a call of about a hundred. Anything else is left to protobufjs (undefined).
 */
function int64Record(number: number, v: unknown): Buffer | undefined {
  if (typeof v !== 'string' || !DECIMAL_INT64.test(v)) return undefined;
  let n = BigInt(v);
  if (n >= INT64_END) return undefined;
  const bytes = [number << 3]; // wire type 0 (varint); the reply's field numbers are below 16, so one tag byte
  while (n >= 0x80n) {
    bytes.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  bytes.push(Number(n));
  return Buffer.from(bytes);
}

/** A service definition whose cached replies (CACHED_REPLIES) are encoded through caches. */
export function withReplyEncoding(service: Definition): Definition {
  const out: Record<string, AnyMethod> = {};
  for (const [name, method] of Object.entries(service) as [string, AnyMethod][]) {
    const fields = CACHED_REPLIES[name];
    out[name] = fields ? { ...method, responseSerialize: cachingSerializer(fields, method.responseSerialize) } : method;
  }
  return out as Definition;
}
