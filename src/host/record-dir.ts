/**
 * A directory of versioned JSON records, one file per ID: the runc, vm and rkt backends keep their durable records
 * in one (issue #22) instead of each listing, reading, writing and deleting files its own way. A record is either
 *   <dir>/<id>.json              (no fileName: the directory holds records only), or
 *   <dir>/<id>/<fileName>        (the object has a directory of its own that holds other files too).
 *
 *  - An ID becomes a path: one that could leave the directory (a slash, "..", a leading dot) is refused on write
 *    and delete and never read. The router's IDs are hex, well inside the pattern.
 *  - Writes go through the host's atomic writer (temp + rename, src/util/fs.ts): a crash leaves the old record or
 *    the new, never half of one. Its temp names are hidden and end in ".tmp", so a listing never takes one for a
 *    record.
 *  - A file that does not parse, or carries another version, is skipped (and reported to `log` when there is
 *    one): one bad record must not keep a backend from starting.
 *
 * Both an async and a sync form of list and put: the vm backend changes a pod and writes its record in one turn of
 * the event loop (some of its writers hold no lock), so no other call runs between the two.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors';
import type { Logger } from '../log/logger';
import type { AtomicWriteOptions } from '../util/fs';

/** What an ID must look like to name a record file. */
export const RECORD_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The atomic writers records go through (a backend passes BackendHost.files, so a test can hand in its own). */
export interface RecordWriter {
  writeAtomic(file: string, data: string, opts?: AtomicWriteOptions): Promise<void>;
  writeAtomicSync(file: string, data: string, opts?: AtomicWriteOptions): void;
}

export interface RecordDirOptions {
  readonly dir: string;
  /** The record's name inside `<dir>/<id>/`; absent, records are `<dir>/<id>.json`. */
  readonly fileName?: string;
  /** The version this code writes; records of any other are skipped. */
  readonly version: number;
  /** What a record is called in messages ("sandbox" → "skip unreadable sandbox record"). */
  readonly kind: string;
  readonly files: RecordWriter;
  /** Where skipped records are reported; without one they are skipped silently. */
  readonly log?: Logger;
  /** Permissions of a record file (default: as fs.writeFile). */
  readonly mode?: number;
  /** JSON indentation, compact when absent: fixed per store, so records on disk keep the form they always had. */
  readonly indent?: number;
}

export interface VersionedRecord {
  readonly version: number;
  readonly id: string;
}

export class RecordDir<T extends VersionedRecord> {
  constructor(private readonly opts: RecordDirOptions) {}

  /** The file of `id`'s record; throws for an ID that could name a file outside the directory. */
  fileOf(id: string): string {
    if (!RECORD_ID.test(id)) throw new Error(`${this.opts.kind} record: unsafe id "${id}"`);
    const { dir, fileName } = this.opts;
    return fileName ? path.join(dir, id, fileName) : path.join(dir, `${id}.json`);
  }

  /** `id`'s record; undefined when there is none (a missing file is no news, so only a bad one is reported). */
  async get(id: string): Promise<T | undefined> {
    if (!RECORD_ID.test(id)) return undefined;
    const file = this.fileOf(id);
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return this.unreadable(file, err);
    }
    return this.parse(file, text);
  }

  /** Every readable record of this version, by ID. */
  async list(): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    const names = await fs.promises.readdir(this.opts.dir).catch(() => []);
    for (const id of this.idsOf(names)) {
      const file = this.fileOf(id);
      const rec = await fs.promises.readFile(file, 'utf8').then(
        (text) => this.parse(file, text),
        (err: unknown) => this.unreadable(file, err),
      );
      if (rec) out.set(id, rec);
    }
    return out;
  }

  listSync(): Map<string, T> {
    const out = new Map<string, T>();
    let names: string[];
    try {
      names = fs.readdirSync(this.opts.dir);
    } catch {
      names = [];
    }
    for (const id of this.idsOf(names)) {
      const file = this.fileOf(id);
      let rec: T | undefined;
      try {
        rec = this.parse(file, fs.readFileSync(file, 'utf8'));
      } catch (err) {
        rec = this.unreadable(file, err);
      }
      if (rec) out.set(id, rec);
    }
    return out;
  }

  async put(rec: T): Promise<void> {
    const file = this.fileOf(rec.id);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await this.opts.files.writeAtomic(file, this.encode(rec), { mode: this.opts.mode });
  }

  putSync(rec: T): void {
    const file = this.fileOf(rec.id);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.opts.files.writeAtomicSync(file, this.encode(rec), { mode: this.opts.mode });
  }

  /** Deletes `id`'s record file (only the file: an object's own directory is its owner's to remove). */
  async remove(id: string): Promise<void> {
    await fs.promises.rm(this.fileOf(id), { force: true });
  }

  private encode(rec: T): string {
    return JSON.stringify(rec, null, this.opts.indent);
  }

  /** The IDs a listing names; anything else there (temp files, names no ID has) is not a record. */
  private idsOf(names: string[]): string[] {
    const ids = this.opts.fileName ? names : names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5));
    return ids.filter((id) => RECORD_ID.test(id));
  }

  private parse(file: string, text: string): T | undefined {
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch (err) {
      return this.unreadable(file, err);
    }
    if (typeof rec !== 'object' || rec === null) return this.unreadable(file, new Error('not a JSON object'));
    const version = (rec as { version?: unknown }).version;
    if (version !== this.opts.version) {
      this.opts.log?.warn(`skip ${this.opts.kind} record of unknown version`, { file, version });
      return undefined;
    }
    return rec as T;
  }

  private unreadable(file: string, err: unknown): undefined {
    this.opts.log?.warn(`skip unreadable ${this.opts.kind} record`, { file, error: errorMessage(err) });
    return undefined;
  }
}
