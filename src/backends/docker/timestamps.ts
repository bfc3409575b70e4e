/**
 * Exact time conversions between Docker's RFC 3339 strings (nanosecond fractions) and CRI's int64 nanoseconds,
 * kept as decimal strings / BigInt so no precision is lost on the way (a JS number holds only ~µs at epoch scale).
 */

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;
const NS_PER_S = 1_000_000_000n;

/** Nanoseconds since the epoch as BigInt, or null for a malformed string. Docker's zero time (year 1) gives 0n. */
export function parseRfc3339Ns(s: string): bigint | null {
  const m = RFC3339.exec(s);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms) || ms <= 0) return 0n;
  const frac = BigInt((m[2] ?? '').padEnd(9, '0'));
  return BigInt(ms / 1000) * NS_PER_S + frac;
}

/** Docker time → CRI timestamp string ("0" for unset or malformed). */
export function dockerTimeToNs(s: string | undefined): string {
  return s ? (parseRfc3339Ns(s) ?? 0n).toString() : '0';
}

/** CRI nanoseconds → Docker's `since` parameter ("<seconds>.<nanoseconds>"). */
export function nsToDockerSince(ns: bigint): string {
  const s = ns / NS_PER_S;
  const frac = ns % NS_PER_S;
  return `${s}.${frac.toString().padStart(9, '0')}`;
}
