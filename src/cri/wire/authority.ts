/**
 * Which `:authority` values Node's HTTP/2 layer (nghttp2) accepts, and the rewrite of a header block whose literal
 * authority it would refuse.
 *
 * Why the rewrite is safe:
 * - On a unix socket the authority names nothing: crimux serves one endpoint and no handler reads the value.
 * - The new value has the same decoded length as the old (each refused byte becomes '_'), so the entry that a
 *   literal-with-incremental-indexing adds to the dynamic table has the same size (name + value + 32) in the
 *   server's table as in the client's encoder: evictions happen at the same moments, indices stay aligned, and
 *   later requests that reference the entry by index resolve to the rewritten (acceptable) value.
 * - Only the bytes of that one string literal change (re-encoded raw, H=0); every other byte of the block is kept
 *   as sent, and the frames around it are rebuilt with the new lengths.
 * - nghttp2 also refuses an empty authority. Sent without indexing it becomes "localhost" (no table entry, so no
 *   size to keep); sent with incremental indexing no same-length value exists, so it is left to be refused as
 *   before. No gRPC client sends an empty authority: grpc-go uses the target or WithAuthority.
 */
import type { HpackDecoder } from './hpack-decoder';

/** nghttp2's authority alphabet: RFC 3986 unreserved and sub-delims, plus ':', '@', '[', ']', '%'. */
const ACCEPTED = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@[]%") {
  ACCEPTED[c.charCodeAt(0)] = 1;
}
const FILLER = '_'.charCodeAt(0);

const NOT_INDEXED_EMPTY_FILLER = Buffer.from('localhost');

export function isAcceptedAuthority(value: Uint8Array): boolean {
  if (value.length === 0) return false;
  for (const b of value) if (!ACCEPTED[b]) return false;
  return true;
}

/** The value with every byte nghttp2 refuses replaced by '_': same length, e.g. "/run/x.sock" → "_run_x.sock". */
export function acceptableAuthority(value: Uint8Array): Buffer {
  const out = Buffer.from(value);
  for (let i = 0; i < out.length; i++) if (!ACCEPTED[out[i]!]) out[i] = FILLER;
  return out;
}

/** An HPACK string literal, raw (H=0), with its 7-bit prefix length (RFC 7541 §5.1, §5.2). */
export function rawStringLiteral(value: Uint8Array): Buffer {
  const prefix: number[] = [];
  let n = value.length;
  if (n < 127) {
    prefix.push(n);
  } else {
    prefix.push(127);
    n -= 127;
    while (n >= 128) {
      prefix.push((n % 128) + 128);
      n = Math.floor(n / 128);
    }
    prefix.push(n);
  }
  return Buffer.concat([Buffer.from(prefix), value]);
}

/**
 * Walks one complete header block with the connection's decoder (always, so its table stays in step) and returns
 * the block with every refused literal authority replaced, or null when the block can go through unchanged.
 */
export function rewriteHeaderBlock(decoder: HpackDecoder, block: Buffer): Buffer | null {
  let parts: Buffer[] | null = null;
  let from = 0;
  for (const literal of decoder.scan(block)) {
    if (isAcceptedAuthority(literal.value)) continue;
    let value: Buffer;
    if (literal.value.length > 0) value = acceptableAuthority(literal.value);
    else if (!literal.indexed) value = NOT_INDEXED_EMPTY_FILLER;
    else continue;
    parts ??= [];
    parts.push(block.subarray(from, literal.valueStart), rawStringLiteral(value));
    from = literal.valueEnd;
  }
  if (!parts) return null;
  parts.push(block.subarray(from));
  return Buffer.concat(parts);
}
