/**
 * Image records, one JSON file per image under <root>/metadata/images/<id hex>.json, written atomically (temp +
 * fsync + rename) and loaded into memory at start. JSON files rather than SQLite: a handful of records, rewritten
 * whole, readable with cat when debugging a node. Records carry a version so the format can evolve.
 *
 * NOTE: callers serialise mutations (the store's metadata lock); this class only keeps memory and disk in step.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger';
import type { OciImageConfig } from './manifest';
import { hexOf, sha256 } from './digest';
import { writeFileAtomic } from './fsutil';
import type { PullOutcome } from './pull';
import { formatReference, repoName, type ImageReference } from './reference';

export interface ImageRecord {
  readonly version: 1;
  /** sha256 of the config blob: the CRI image ID. */
  readonly id: string;
  /** Normalised name:tag references. */
  readonly repoTags: string[];
  /** name@sha256:… of the manifest or index each name was pulled as. */
  readonly repoDigests: string[];
  /** Bytes of every blob the image consists of (index, manifest, config, compressed layers), as containerd counts. */
  readonly size: number;
  readonly config: OciImageConfig;
  /** Uncompressed layer digests, lowest first. */
  readonly diffIds: string[];
  readonly chainId: string;
  /** Every blob the image references (index, manifest, config, layers), kept from garbage collection. */
  readonly blobs: string[];
  readonly pulledAt: string;
}

/** The OCI chain ID of a layer stack: identifies the stack, not just the top layer. */
export function chainId(diffIds: readonly string[]): string {
  let chain = '';
  for (const d of diffIds) chain = chain === '' ? d : sha256(Buffer.from(`${chain} ${d}`));
  return chain;
}

/**
 * The records a pull changes: the pulled image gains the tag and the repo digest; a tag moves off the image it
 * named before (a tag names one image), which stays listed by its repo digest, like containerd's dangling images.
 */
export function recordPull(all: readonly ImageRecord[], ref: ImageReference, o: PullOutcome): ImageRecord[] {
  const tag = ref.tag ? formatReference(ref) : undefined;
  // A pull by a sha384/sha512 digest (verified in registry-client.ts) is findable by that digest too.
  const repoDigests = [`${repoName(ref)}@${o.topDigest}`];
  if (ref.digest && ref.digest !== o.topDigest) repoDigests.push(formatReference(ref));
  const changed: ImageRecord[] = [];
  for (const other of all) {
    if (tag && other.id !== o.configDigest && other.repoTags.includes(tag)) {
      changed.push({ ...other, repoTags: other.repoTags.filter((t) => t !== tag) });
    }
  }
  const prev = all.find((r) => r.id === o.configDigest);
  const union = (a: readonly string[] = [], b: readonly string[]): string[] => [...new Set([...a, ...b])];
  changed.push({
    version: 1,
    id: o.configDigest,
    repoTags: union(prev?.repoTags, tag ? [tag] : []),
    repoDigests: union(prev?.repoDigests, repoDigests),
    size: o.size,
    config: o.config,
    diffIds: o.diffIds,
    chainId: chainId(o.diffIds),
    blobs: union(prev?.blobs, o.blobs),
    pulledAt: new Date().toISOString(),
  });
  return changed;
}

export class ImageMetadata {
  private readonly dir: string;
  private readonly records = new Map<string, ImageRecord>();

  constructor(root: string) {
    this.dir = path.join(root, 'metadata', 'images');
  }

  /** Loads every record; unreadable files are logged and skipped (their content is garbage-collected). */
  async load(log: Logger): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.records.clear();
    for (const name of await readdir(this.dir)) {
      const file = path.join(this.dir, name);
      if (!/^[0-9a-f]{64}\.json$/.test(name)) {
        // Temp files of an interrupted write.
        if (name.endsWith('.tmp')) await rm(file, { force: true });
        continue;
      }
      try {
        const rec = JSON.parse(await readFile(file, 'utf8')) as ImageRecord;
        if (rec.version !== 1 || typeof rec.id !== 'string')
          throw new Error(`unknown record version ${String(rec.version)}`);
        this.records.set(rec.id, rec);
      } catch (err) {
        log.warn('skip unreadable image record', { file, error: err });
      }
    }
  }

  all(): ImageRecord[] {
    return [...this.records.values()];
  }

  get(id: string): ImageRecord | undefined {
    return this.records.get(id);
  }

  async save(rec: ImageRecord): Promise<void> {
    await writeFileAtomic(path.join(this.dir, `${hexOf(rec.id)}.json`), JSON.stringify(rec));
    this.records.set(rec.id, rec);
  }

  async delete(id: string): Promise<void> {
    await rm(path.join(this.dir, `${hexOf(id)}.json`), { force: true });
    this.records.delete(id);
  }
}
