/**
 * IDs: 64 lower-case hex characters, like containerd and CRI-O, so crictl's short-ID handling works unchanged.
 * Short prefixes resolve when they are unique (crictl passes what the user typed).
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, NotFoundError } from '../errors';

export function newId(): string {
  return randomBytes(32).toString('hex');
}

const ID_CHARS = /^[0-9a-f]+$/;

/**
 * The full ID for `idOrPrefix`, or undefined when nothing matches. Ambiguous prefixes are an InvalidArgument
 * naming the candidates; non-hex input never matches (it cannot be an ID), so it is undefined, not an error.
 */
export function resolveId(
  kind: 'pod sandbox' | 'container',
  idOrPrefix: string,
  lookup: (prefix: string, limit: number) => string[],
): string | undefined {
  if (idOrPrefix === '') throw new InvalidArgumentError(`resolve ${kind}: ID must not be empty`);
  if (!ID_CHARS.test(idOrPrefix) || idOrPrefix.length > 64) return undefined;
  const matches = lookup(idOrPrefix, 2);
  if (matches.length > 1) {
    throw new InvalidArgumentError(`resolve ${kind} ${idOrPrefix}: ambiguous prefix (matches ${matches.join(', ')} …)`);
  }
  return matches[0];
}

/** Like resolveId, but an unknown ID is a NotFound error (CRI: status of an unknown object). */
export function mustResolveId(
  kind: 'pod sandbox' | 'container',
  idOrPrefix: string,
  lookup: (prefix: string, limit: number) => string[],
): string {
  const id = resolveId(kind, idOrPrefix, lookup);
  if (id === undefined) throw new NotFoundError(`${kind} ${idOrPrefix} not found`, { context: { id: idOrPrefix } });
  return id;
}
