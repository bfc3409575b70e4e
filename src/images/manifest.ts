/**
 * OCI / Docker manifest formats: media types, validation of what a registry sent, and the node's platform's entry
 * of an index or manifest list (platform.ts has the matching rules). Pure functions, so the rules are unit-tested
 * without a registry.
 */
import { InvalidArgumentError, NotFoundError, UnimplementedError } from '../errors';
import { isSha256Digest } from './reference';
import { formatPlatform, platformRank, type Platform } from './platform';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Accept header for manifest requests, most specific first (as containerd sends it). */
export const MANIFEST_ACCEPT = [
  MEDIA.ociIndex,
  MEDIA.dockerList,
  MEDIA.ociManifest,
  MEDIA.dockerManifest,
  '*/*;q=0.8',
].join(', ');

export type Compression = 'gzip' | 'zstd' | 'none';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { readonly os?: string; readonly architecture?: string; readonly variant?: string };
}

export interface ImageManifest {
  readonly config: Descriptor;
  readonly layers: Descriptor[];
}

/** The OCI image config (the parts crimux reads; the whole JSON is kept for verbose status). */
export interface OciImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly config?: {
    readonly User?: string;
    readonly Env?: string[];
    readonly Entrypoint?: string[];
    readonly Cmd?: string[];
    readonly WorkingDir?: string;
    readonly StopSignal?: string;
    readonly ExposedPorts?: Record<string, unknown>;
    readonly Labels?: Record<string, string>;
  };
  readonly rootfs: { readonly type: string; readonly diff_ids: string[] };
}

function bad(what: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`${what}: ${why}`);
}

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (typeof d !== 'object' || d === null) throw bad(what, 'descriptor is not an object');
  if (typeof d.digest !== 'string' || !isSha256Digest(d.digest)) throw bad(what, 'unsupported or invalid digest');
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw bad(what, 'invalid size');
  return {
    mediaType: typeof d.mediaType === 'string' ? d.mediaType : '',
    digest: d.digest,
    size: d.size,
    ...(typeof d.platform === 'object' && d.platform !== null ? { platform: platformOf(d.platform) } : {}),
  };
}

/** Only the string fields of a descriptor's platform: the registry's JSON is not trusted to be well-typed. */
function platformOf(p: Record<string, unknown>): Descriptor['platform'] {
  const s = (k: string): Record<string, string> => (typeof p[k] === 'string' ? { [k]: p[k] as string } : {});
  return { ...s('os'), ...s('architecture'), ...s('variant') };
}

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw bad(what, 'not a JSON object');
}

/** The media type of a manifest body: the Content-Type, else the body's own mediaType, else guessed by shape. */
export function manifestKind(contentType: string | undefined, body: Buffer): 'index' | 'manifest' {
  const json = parseJson(body, 'manifest');
  const ct = (contentType ?? '').split(';')[0]?.trim() ?? '';
  const mt = ct && ct !== 'application/json' && ct !== 'application/octet-stream' ? ct : String(json.mediaType ?? '');
  if (mt === MEDIA.dockerSchema1 || json.schemaVersion === 1) {
    throw new UnimplementedError('Docker schema 1 manifests are not supported (deprecated since 2019)');
  }
  if (mt === MEDIA.ociIndex || mt === MEDIA.dockerList) return 'index';
  if (mt === MEDIA.ociManifest || mt === MEDIA.dockerManifest) return 'manifest';
  if (Array.isArray(json.manifests)) return 'index';
  if (json.config !== undefined && Array.isArray(json.layers)) return 'manifest';
  throw bad('manifest', `unsupported media type "${mt}"`);
}

/**
 * Picks the entry of an index for a node of `platform`: an exact match first, else the best fallback the node
 * runs (platform.ts); among equals the index's first. NotFoundError, listing what the index has, when none fits.
 */
export function selectPlatform(body: Buffer, ref: string, platform: Platform): Descriptor {
  const json = parseJson(body, 'image index');
  if (!Array.isArray(json.manifests)) throw bad('image index', 'no manifests');
  const all = json.manifests.map((m, i) => descriptor(m, `image index manifests[${i}]`));
  let chosen: Descriptor | undefined;
  let best = Infinity;
  for (const d of all) {
    const rank = platformRank(platform, d.platform);
    if (rank !== undefined && rank < best) {
      best = rank;
      chosen = d;
    }
  }
  if (!chosen) {
    const seen = all
      .map((d) =>
        [
          d.platform?.os ?? '?',
          d.platform?.architecture ?? '?',
          ...(d.platform?.variant ? [d.platform.variant] : []),
        ].join('/'),
      )
      .join(', ');
    throw new NotFoundError(
      `pull image ${ref}: no manifest for ${formatPlatform(platform)} in the index (has: ${seen})`,
    );
  }
  return chosen;
}

/** Validates an image manifest. */
export function parseManifest(body: Buffer): ImageManifest {
  const json = parseJson(body, 'image manifest');
  const config = descriptor(json.config, 'image manifest config');
  if (!Array.isArray(json.layers)) throw bad('image manifest', 'no layers');
  const layers = json.layers.map((l, i) => descriptor(l, `image manifest layers[${i}]`));
  for (const l of layers) layerCompression(l.mediaType);
  return { config, layers };
}

/** Validates an image config; its diff IDs must match the manifest's layers one to one. */
export function parseConfig(body: Buffer, layerCount: number): OciImageConfig {
  const json = parseJson(body, 'image config') as unknown as OciImageConfig;
  const diffIds = json.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.some((d) => typeof d !== 'string' || !isSha256Digest(d))) {
    throw bad('image config', 'rootfs.diff_ids missing or invalid');
  }
  if (diffIds.length !== layerCount) {
    throw bad('image config', `${diffIds.length} diff IDs for ${layerCount} layers`);
  }
  return json;
}

/** Compression of a layer by media type; Unimplemented for encrypted or unknown layer formats. */
export function layerCompression(mediaType: string): Compression {
  switch (mediaType) {
    case 'application/vnd.oci.image.layer.v1.tar+gzip':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip':
      return 'gzip';
    case 'application/vnd.oci.image.layer.v1.tar+zstd':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    case 'application/vnd.oci.image.layer.v1.tar':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    default:
      throw new UnimplementedError(`unsupported layer media type "${mediaType}"`);
  }
}
