/**
 * The server's side of HPACK (RFC 7541) for response headers and trailers: `:status` from the static table when it
 * is there, every other field a literal without indexing, strings raw (no Huffman). No dynamic table is ever
 * used, so the client's table settings never matter. The few header objects every call sends (the gRPC response
 * headers, the OK trailers) are constants of the call layer: their encoding and list size are kept per object.
 */
import type { OutgoingHttpHeaders } from 'node:http2';

/** Static table indexes of `:status` values (RFC 7541 Appendix A). */
const STATUS_INDEX: Readonly<Record<string, number>> = {
  '200': 8,
  '204': 9,
  '206': 10,
  '304': 11,
  '400': 12,
  '404': 13,
  '500': 14,
};
/** Static index of the name `:status`, for a status the table has no full entry for. */
const STATUS_NAME_INDEX = 8;

const cache = new WeakMap<OutgoingHttpHeaders, Buffer>();
const sizes = new WeakMap<OutgoingHttpHeaders, number>();

/** The header block of `headers` (names lower-cased, array values one field each). */
export function encodeHeaders(headers: OutgoingHttpHeaders): Buffer {
  const known = cache.get(headers);
  if (known) return known;
  const parts: Buffer[] = [];
  for (const [rawName, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const name = rawName.toLowerCase();
    for (const value of Array.isArray(v) ? v : [v]) {
      const text = String(value);
      if (name === ':status') {
        const index = STATUS_INDEX[text];
        if (index) parts.push(Buffer.from([0x80 | index]));
        else parts.push(integer(STATUS_NAME_INDEX, 4, 0x00), stringLiteral(text));
        continue;
      }
      parts.push(Buffer.from([0x00]), stringLiteral(name), stringLiteral(text));
    }
  }
  const block = Buffer.concat(parts);
  cache.set(headers, block);
  return block;
}

/** RFC 7541 §5.2, raw: a 7-bit-prefix length, then the bytes. */
function stringLiteral(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([integer(bytes.length, 7, 0x00), bytes]);
}

/** RFC 7541 §5.1: `value` with an N-bit prefix, `high` the bits above the prefix in the first byte. */
export function integer(value: number, prefixBits: number, high: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([high | value]);
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** RFC 9113 §6.5.2: a header list's size is each field's name and value length plus 32. */
export function headerListSize(headers: OutgoingHttpHeaders): number {
  const known = sizes.get(headers);
  if (known !== undefined) return known;
  let n = 0;
  for (const [name, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const value of Array.isArray(v) ? v : [v]) n += name.length + String(value).length + 32;
  }
  sizes.set(headers, n);
  return n;
}
