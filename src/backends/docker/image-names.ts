/**
 * Image names between the kubelet and Docker's store, when crimux's registry host configuration
 * (`images.registries`) replaces a host by an endpoint: Docker pulls `127.0.0.1:5000/library/busybox:1.36`, crimux
 * tags it `docker.io/library/busybox:1.36`, and what CRI shows must be the requested names again. Pure functions.
 *
 * NOTE: the endpoint tag is kept, because Docker drops an image's repo digest together with the last tag of that
 * repository; it is hidden from CRI lists when a requested name covers it.
 * NOTE: Docker cannot tag a digest, so an image pulled by digest from an endpoint is tagged
 * `<requested repository>:crimux-digest-sha256-<hex>` (digestTag): that tag, hidden from CRI, names the requested
 * repository its repo digest is reported under. It lives in Docker's store, so it survives restarts and goes with
 * the image.
 * NOTE: endpoints with a path (http://host/prefix) are not expressible as a Docker repository and are skipped.
 */
import type { RegistryHostConfig } from '../../config/types';
import { formatReference, parseReference, type ImageReference } from '../../images/reference';

const WILDCARD = '*';

/** Which endpoint hosts ("127.0.0.1:5000") replace which registry hosts ("docker.io"). */
export class MirrorMap {
  private readonly byDomain = new Map<string, string[]>();

  constructor(registries: Readonly<Record<string, RegistryHostConfig>>) {
    for (const [domain, cfg] of Object.entries(registries)) {
      const hosts: string[] = [];
      for (const ep of cfg.endpoints) {
        const url = new URL(ep.url);
        if (url.pathname.replace(/\/+$/, '') === '') hosts.push(url.host);
      }
      this.byDomain.set(domain, hosts);
    }
  }

  /** Docker-pullable hosts for a registry host; empty when the host is not replaced (pull from it directly). */
  endpointHosts(domain: string): string[] {
    return this.byDomain.get(domain) ?? this.byDomain.get(WILDCARD) ?? [];
  }

  /** Whether the host has a replacement configured at all (even one Docker cannot use). */
  isReplaced(domain: string): boolean {
    return this.byDomain.has(domain) || this.byDomain.has(WILDCARD);
  }

  /** Whether `endpointHost` serves `domain`. */
  serves(endpointHost: string, domain: string): boolean {
    return this.endpointHosts(domain).includes(endpointHost);
  }
}

/** The reference Docker pulls for `ref` from an endpoint host: same path, same tag or digest. */
export function endpointReference(ref: ImageReference, endpointHost: string): ImageReference {
  return { ...ref, domain: endpointHost };
}

/** Docker's familiar names ("busybox:1.36") normalised; "<none>" entries and unparsable names dropped. */
function normalizeAll(names: readonly string[] | null | undefined): ImageReference[] {
  const out: ImageReference[] = [];
  for (const n of names ?? []) {
    if (n.startsWith('<none>')) continue;
    try {
      out.push(parseReference(n));
    } catch {
      // A name Docker accepted but the distribution grammar does not: not something the kubelet can refer to.
    }
  }
  return out;
}

const sameRepo = (a: ImageReference, b: ImageReference): boolean => a.path === b.path;

const DIGEST_TAG_PREFIX = 'crimux-digest-';

/**
 * The tag that records a pull by `digest` ("sha256:<hex>") in the requested repository. A tag holds at most 128
 * characters, so a sha512 digest's hex is cut: the tag is only ever compared with the tag of the image's own
 * repo digests, never parsed back.
 */
export function digestTag(digest: string): string {
  return (DIGEST_TAG_PREFIX + digest.replace(':', '-')).slice(0, 128);
}

const isDigestTag = (t: ImageReference): boolean => t.tag?.startsWith(DIGEST_TAG_PREFIX) === true;

/**
 * CRI repo_tags and repo_digests of a Docker image: endpoint tags covered by a requested tag are hidden, and
 * endpoint digests are reported under the requested repositories they serve.
 */
export function criNames(
  repoTags: readonly string[] | null | undefined,
  repoDigests: readonly string[] | null | undefined,
  mirrors: MirrorMap,
): { repoTags: string[]; repoDigests: string[] } {
  const all = normalizeAll(repoTags);
  // Only a tag crimux set: the recording tag of one of this image's own repo digests, in a repository it serves.
  const endpointDigests = normalizeAll(repoDigests);
  const recorded = (t: ImageReference): boolean =>
    isDigestTag(t) &&
    endpointDigests.some(
      (d) =>
        d.digest !== undefined && t.tag === digestTag(d.digest) && sameRepo(t, d) && mirrors.serves(d.domain, t.domain),
    );
  const tags = all.filter((t) => !recorded(t));
  const byDigest = all.filter(recorded);
  const isCovered = (t: ImageReference): boolean =>
    tags.some((o) => o !== t && o.tag === t.tag && sameRepo(o, t) && mirrors.serves(t.domain, o.domain));
  const visibleTags = tags.filter((t) => !isCovered(t));

  const digests = new Set<string>();
  for (const d of endpointDigests) {
    const owners = [
      ...visibleTags,
      ...byDigest.filter((t) => d.digest !== undefined && t.tag === digestTag(d.digest)),
    ].filter((t) => sameRepo(t, d) && t.domain !== d.domain && mirrors.serves(d.domain, t.domain));
    if (owners.length === 0) digests.add(formatReference(d));
    for (const o of owners) digests.add(formatReference({ domain: o.domain, path: o.path, digest: d.digest }));
  }
  return { repoTags: unique(visibleTags.map(formatReference)), repoDigests: [...digests] };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** Splits an image's configured user into CRI's uid (numeric user part) or username. */
export function imageUser(user: string | undefined): { uid?: string; username?: string } {
  const name = (user ?? '').split(':')[0] ?? '';
  if (name === '') return {};
  return /^\d+$/.test(name) ? { uid: name } : { username: name };
}
