/**
 * The two list replies the kubelet asks for every second (ListPodSandbox, ListContainers), encoded from cached
 * per-entry bytes (issue #21). Their entries are kept in memory between changes (src/router/views.ts) and come
 * back as the same objects call after call, yet each reply encoded every entry again (protobufjs's fromObject
 * and encode): at 100 containers that was most of ListContainers' time.
 *
 * Why concatenation is exact: both reply messages have one field, a repeated message (field 1), and protobuf
 * encodes each element of a repeated message field as its own record (tag, length, bytes). So a reply is the
 * concatenation of the encodings of one-element replies, each computed once per entry object (a WeakMap: a
 * changed entry is a new object, so it is encoded anew, and dropped entries are collected with their bytes).
 * Entries are never modified after they are shaped (src/router/shape-*.ts build new objects).
 */
import type * as grpc from '@grpc/grpc-js';

type Definition = grpc.ServiceDefinition<grpc.UntypedServiceImplementation>;
type AnyMethod = grpc.MethodDefinition<unknown, unknown>;

/** Methods whose reply is `{ <field>: Entry[] }` and nothing else. */
const LISTS: Record<string, string> = { ListPodSandbox: 'items', ListContainers: 'containers' };

/** A reply serializer that reuses the bytes of entries it has encoded before. */
export function entryCachingSerializer(field: string, serialize: (value: unknown) => Buffer): (v: unknown) => Buffer {
  const cache = new WeakMap<object, Buffer>();
  return (value: unknown): Buffer => {
    const reply = value as Record<string, unknown> | null | undefined;
    const entries = reply?.[field];
    if (!reply || !Array.isArray(entries) || Object.keys(reply).some((k) => k !== field)) return serialize(value);
    const parts: Buffer[] = new Array<Buffer>(entries.length);
    let total = 0;
    for (let i = 0; i < entries.length; i++) {
      const e: unknown = entries[i];
      let bytes = typeof e === 'object' && e !== null ? cache.get(e) : undefined;
      if (!bytes) {
        bytes = serialize({ [field]: [e] });
        if (typeof e === 'object' && e !== null) cache.set(e, bytes);
      }
      parts[i] = bytes;
      total += bytes.length;
    }
    return Buffer.concat(parts, total);
  };
}

/** The RuntimeService definition with the list replies encoded through per-entry caches. */
export function withListEncoding(service: Definition): Definition {
  const out: Record<string, AnyMethod> = {};
  for (const [name, method] of Object.entries(service) as [string, AnyMethod][]) {
    const field = LISTS[name];
    out[name] = field
      ? { ...method, responseSerialize: entryCachingSerializer(field, method.responseSerialize) }
      : method;
  }
  return out as Definition;
}
