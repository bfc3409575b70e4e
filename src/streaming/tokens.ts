/**
 * Single-use, expiring, unguessable tokens for streaming URLs (the kubelet's requestCache, in small).
 *
 * A token is 32 random bytes (256 bits) in base64url, so it cannot be guessed or enumerated; it is deleted on
 * first use whatever the outcome, and it expires after the TTL. The number of outstanding tokens is capped so a
 * caller looping on Exec cannot grow memory without bound: expired ones are dropped first, and when every slot
 * holds a live token the new request is refused with ResourceExhausted (the kubelet does the same).
 */
import { randomBytes } from 'node:crypto';
import { ResourceExhaustedError } from '../errors';

export interface TokenCacheOptions {
  readonly ttlMs: number;
  readonly maxInFlight?: number;
  /** Injected clock for tests. */
  readonly now?: () => number;
}

export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();
  private readonly now: () => number;
  private readonly max: number;

  constructor(private readonly opts: TokenCacheOptions) {
    this.now = opts.now ?? Date.now;
    this.max = opts.maxInFlight ?? 1000;
  }

  /** Store a request and return its new token. */
  issue(value: T): string {
    this.sweep();
    if (this.entries.size >= this.max) {
      throw new ResourceExhaustedError(`issue streaming URL: ${this.max} URLs are already outstanding; retry later`);
    }
    const token = randomBytes(32).toString('base64url');
    this.entries.set(token, { value, expiresAt: this.now() + this.opts.ttlMs });
    return token;
  }

  /** Take the request of a token: undefined when unknown, used or expired. The token is gone afterwards. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expiresAt > this.now() ? e.value : undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  /** Map iteration is insertion order and every token has the same TTL, so expired ones are at the front. */
  private sweep(): void {
    const now = this.now();
    for (const [token, e] of this.entries) {
      if (e.expiresAt > now) break;
      this.entries.delete(token);
    }
  }
}
