/**
 * The one nanosecond clock of the daemon's runtime side, for CRI timestamps (created/started/finished, stats).
 *
 * Date.now() has millisecond granularity, so two containers created within one millisecond would share a
 * created_at and their order (the kubelet sorts by it) would be arbitrary. The wall clock is therefore read once,
 * at start-up, and the monotonic clock measures from there: nanosecond resolution, and never going backwards
 * when NTP steps the wall clock (which would also corrupt the rates the kubelet derives from stats timestamps).
 */

const BASE_WALL_NS = BigInt(Date.now()) * 1_000_000n;
const BASE_MONO_NS = process.hrtime.bigint();

/** Now, in nanoseconds since the epoch. */
export function nowNs(): bigint {
  return BASE_WALL_NS + (process.hrtime.bigint() - BASE_MONO_NS);
}

/** Now as a CRI timestamp: int64 nanoseconds in a decimal string. */
export function nowNsString(): string {
  return nowNs().toString();
}

/** Epoch milliseconds (e.g. from a guest's Date.now()) as a CRI timestamp string; "0" when unknown. */
export function msToNsString(ms: number | undefined): string {
  return ms === undefined ? '0' : (BigInt(Math.round(ms)) * 1_000_000n).toString();
}
