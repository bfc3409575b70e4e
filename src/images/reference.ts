/**
 * Image references parsed and normalised the way containerd and Docker do (distribution/reference grammar):
 *   busybox                      → docker.io/library/busybox:latest
 *   registry.k8s.io/pause:3.9    → registry.k8s.io/pause:3.9
 *   host:5000/a/b@sha256:…       → host:5000/a/b@sha256:…
 *   busybox:1.36@sha256:…        → docker.io/library/busybox@sha256:… (the tag is dropped, as ParseDockerRef does)
 * The kubelet, crictl and the image records all compare references in this normalised form.
 */
import { InvalidArgumentError } from '../errors';
import { DIGEST_ALGORITHMS } from './digest';

export const DOCKER_HUB = 'docker.io';

// The grammar of github.com/distribution/reference (regexp.go), written out once.
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_RE = /^sha256:[0-9a-f]{64}$/;
const HEX64_RE = /^[0-9a-f]{64}$/;
const NAME_TOTAL_MAX = 255;

/** A parsed, normalised reference. `tag` and `digest` are never both set (a digest wins). */
export interface ImageReference {
  /** Registry host, e.g. "docker.io", "registry.k8s.io", "127.0.0.1:5000". */
  readonly domain: string;
  /** Repository path without the host, e.g. "library/busybox". */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** domain/path, e.g. "docker.io/library/busybox". */
export function repoName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalised string: name:tag or name@digest. */
export function formatReference(ref: ImageReference): string {
  if (ref.digest) return `${repoName(ref)}@${ref.digest}`;
  return `${repoName(ref)}:${ref.tag ?? 'latest'}`;
}

/** True for "sha256:<64 hex>" — the form of image IDs and content digests. */
export function isSha256Digest(s: string): boolean {
  return SHA256_RE.test(s);
}

function invalid(input: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`parse image reference "${input}": ${why}`, { context: { reference: input } });
}

/**
 * Parses and normalises a reference; a missing tag becomes "latest" unless a digest is given.
 * Throws InvalidArgumentError for anything the distribution grammar refuses.
 */
export function parseReference(input: string): ImageReference {
  if (input === '') throw invalid(input, 'empty reference');
  if (input.length > 4096) throw invalid(input.slice(0, 64) + '…', 'reference too long');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(input, 'invalid digest');
    // Only algorithms crimux verifies (registry-client.ts), with lowercase hex of their length (go-digest's
    // Validate): a digest that could not be checked is refused, never taken on trust.
    const algorithm = digest.slice(0, digest.indexOf(':'));
    const hexLength = Object.hasOwn(DIGEST_ALGORITHMS, algorithm) ? DIGEST_ALGORITHMS[algorithm] : undefined;
    if (hexLength === undefined) throw invalid(input, `unsupported digest algorithm "${algorithm}"`);
    if (!new RegExp(`^${algorithm}:[0-9a-f]{${hexLength}}$`).test(digest))
      throw invalid(input, `invalid ${algorithm} digest`);
  }
  let tag: string | undefined;
  // A tag follows the last ':' that comes after the last '/' (a ':' before it belongs to a host:port).
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(input, 'invalid tag');
  }
  if (rest === '') throw invalid(input, 'empty repository name');
  if (HEX64_RE.test(rest)) throw invalid(input, 'cannot specify 64-byte hexadecimal strings as a repository');

  let domain = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  // Like Docker: the first component is a host only if it looks like one (a dot, a port, or "localhost").
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN_RE.test(domain)) throw invalid(input, 'invalid registry host');
  if (path !== path.toLowerCase()) throw invalid(input, 'repository name must be lowercase');
  if (!PATH_RE.test(path)) throw invalid(input, 'invalid repository name');
  if (domain === 'index.docker.io') domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  if (domain.length + 1 + path.length > NAME_TOTAL_MAX) throw invalid(input, 'repository name too long');

  if (digest !== undefined) return { domain, path, digest };
  return { domain, path, tag: tag ?? 'latest' };
}

/** parseReference + formatReference. */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}
