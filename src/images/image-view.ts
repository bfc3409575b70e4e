/**
 * Pure views of image records: lookup by ID, ID prefix, tag or digest reference (containerd's localResolve
 * order), and the CRI `Image` / verbose info / container defaults derived from a record. Table-tested.
 */
import type * as cri from '../cri/types';
import type { ImageConfig, ResolvedImage } from './types';
import type { ImageRecord } from './metadata';
import { formatReference, isSha256Digest, parseReference } from './reference';

const HEX_PREFIX = /^(?:sha256:)?([0-9a-f]{1,64})$/;

/**
 * Finds the record a CRI image string names: a full ID, else a reference (tag or digest), else a unique ID prefix.
 * Undefined when nothing (or more than one image, for a prefix) matches; a malformed string matches nothing.
 */
export function findImage(records: readonly ImageRecord[], ref: string): ImageRecord | undefined {
  if (isSha256Digest(ref)) {
    const byId = records.find((r) => r.id === ref);
    if (byId) return byId;
  }
  let normalised: string | undefined;
  try {
    normalised = formatReference(parseReference(ref));
  } catch {
    normalised = undefined;
  }
  if (normalised !== undefined) {
    const named = records.find((r) => r.repoTags.includes(normalised) || r.repoDigests.includes(normalised));
    if (named) return named;
  }
  const hex = HEX_PREFIX.exec(ref)?.[1];
  if (hex === undefined) return undefined;
  const matches = records.filter((r) => r.id.startsWith(`sha256:${hex}`));
  return matches.length === 1 ? matches[0] : undefined;
}

/** containerd's getUserFromImage: "33" or "33:33" → uid 33; "www-data[:group]" → username. */
export function userOf(user: string | undefined): { uid?: string; username?: string } {
  if (!user) return {};
  const name = user.split(':')[0] ?? '';
  if (/^-?[0-9]+$/.test(name)) {
    // strconv.ParseInt range: out-of-range numbers are names to containerd, and so here.
    const big = BigInt(name);
    if (big >= -(2n ** 63n) && big < 2n ** 63n) return { uid: big.toString() };
  }
  return { username: name };
}

/** The CRI Image of a record, as containerd's toCRIImage builds it. */
export function toCriImage(rec: ImageRecord, pinned: boolean): cri.Image {
  const { uid, username } = userOf(rec.config.config?.User);
  return {
    id: rec.id,
    repo_tags: [...rec.repoTags],
    repo_digests: [...rec.repoDigests],
    size: String(rec.size),
    ...(uid !== undefined ? { uid: { value: uid } } : {}),
    username: username ?? '',
    pinned,
  };
}

/** ImageStatus verbose info, shaped like containerd's ({ chainID, imageSpec }). */
export function verboseInfo(rec: ImageRecord): Record<string, string> {
  return { info: JSON.stringify({ chainID: rec.chainId, imageSpec: rec.config }) };
}

/** The container defaults a backend applies from the image config. */
export function imageConfigOf(rec: ImageRecord): ImageConfig {
  const c = rec.config.config ?? {};
  return {
    ...(c.User ? { user: c.User } : {}),
    ...(c.Env ? { env: [...c.Env] } : {}),
    ...(c.Entrypoint ? { entrypoint: [...c.Entrypoint] } : {}),
    ...(c.Cmd ? { cmd: [...c.Cmd] } : {}),
    ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
    ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
    ...(c.ExposedPorts ? { exposedPorts: Object.keys(c.ExposedPorts) } : {}),
    ...(c.Labels ? { labels: { ...c.Labels } } : {}),
  };
}

/** The name a resolved image reports: the normalised tag or digest used, else its first tag or digest, else ID. */
export function displayRef(rec: ImageRecord, asked: string): string {
  try {
    const n = formatReference(parseReference(asked));
    if (rec.repoTags.includes(n) || rec.repoDigests.includes(n)) return n;
  } catch {
    // asked by ID
  }
  return rec.repoTags[0] ?? rec.repoDigests[0] ?? rec.id;
}

/** What a backend needs to create a container: ID, the name used, its digest reference, defaults, layer dirs. */
export function toResolved(rec: ImageRecord, asked: string, layerPath: (diffId: string) => string): ResolvedImage {
  const name = displayRef(rec, asked);
  const repo = name.includes('@') ? name.slice(0, name.indexOf('@')) : name.replace(/:[^:/]+$/, '');
  // ContainerStatus.image_ref: the digest reference of the same repository when there is one.
  const digestRef = rec.repoDigests.find((d) => d.startsWith(`${repo}@`)) ?? rec.repoDigests[0];
  return {
    id: rec.id,
    ref: name,
    ...(digestRef ? { digestRef } : {}),
    config: imageConfigOf(rec),
    layerDirs: rec.diffIds.map(layerPath),
  };
}
