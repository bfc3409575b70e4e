/**
 * The embedded ownership store: SQLite (better-sqlite3) in WAL mode. A record whose write returned is in the WAL
 * file, so it survives kill -9 of crimux (the crash the harness tests). synchronous=NORMAL skips the fsync per
 * commit — 2–4 ms each on this kind of disk, twice per create — so after a power loss the last few records may
 * be missing; reconcile then adopts the objects their backends still report (orphan_adopted), so nothing is lost
 * track of. `durability: "full"` restores an fsync per commit for operators who prefer it. Hot lookups go through an LRU cache that is updated on every write
 * (this process is the only writer; `crimux state ls` opens the file read-only).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { AlreadyExistsError, NotFoundError } from '../errors';
import {
  RECORD_VERSION,
  type ContainerRecord,
  type NewContainerRecord,
  type NewSandboxRecord,
  type OwnershipStore,
  type RecordPatch,
  type SandboxRecord,
} from './types';
import { MIGRATIONS } from './schema';
import { containerFromRow, sandboxFromRow, type ContainerRow, type SandboxRow } from './rows';

export interface SqliteStoreOptions {
  /** Directory holding crimux.db; created 0700 if missing. */
  dir: string;
  readonly?: boolean;
  cacheSize?: number;
  /** 'normal' (default): safe against process crashes; 'full': also against power loss, at an fsync per write. */
  durability?: 'normal' | 'full';
}

export class SqliteOwnershipStore implements OwnershipStore {
  private readonly db: Database.Database;
  private readonly sandboxes: LRUCache<string, SandboxRecord>;
  private readonly containers: LRUCache<string, ContainerRecord>;
  private rev = 0;

  constructor(opts: SqliteStoreOptions) {
    const file = path.join(opts.dir, 'crimux.db');
    if (!opts.readonly) fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    }
    this.db.pragma('busy_timeout = 5000');
    const max = opts.cacheSize ?? 4096;
    this.sandboxes = new LRUCache({ max });
    this.containers = new LRUCache({ max });
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = current; v < MIGRATIONS.length; v++) {
      const step = MIGRATIONS[v];
      if (step === undefined) break;
      this.db.transaction(() => {
        this.db.exec(step);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  get revision(): number {
    return this.rev;
  }

  insertSandbox(rec: NewSandboxRecord): SandboxRecord {
    const full: SandboxRecord = {
      ...rec,
      phase: 'creating',
      updatedAtMs: Date.now(),
      recordVersion: RECORD_VERSION,
      generation: 1,
    };
    try {
      this.db
        .prepare(
          `INSERT INTO sandboxes (id, backend, handler, reason, name, namespace, uid, attempt, labels, annotations,
             phase, created_at, updated_at_ms, record_version, generation, snapshot)
           VALUES (@id, @backend, @handler, @reason, @name, @namespace, @uid, @attempt, @labels, @annotations,
             @phase, @createdAt, @updatedAtMs, @recordVersion, @generation, NULL)`,
        )
        .run({ ...full, labels: JSON.stringify(full.labels), annotations: JSON.stringify(full.annotations) });
    } catch (err) {
      throw uniqueViolation(
        err,
        `reserve pod sandbox name ${rec.namespace}/${rec.name} attempt ${rec.attempt}`,
        () => this.findSandboxByName(rec.name, rec.namespace, rec.uid, rec.attempt)?.id,
      );
    }
    this.rev++;
    this.sandboxes.set(full.id, full);
    return full;
  }

  insertContainer(rec: NewContainerRecord): ContainerRecord {
    const full: ContainerRecord = {
      ...rec,
      phase: 'creating',
      updatedAtMs: Date.now(),
      recordVersion: RECORD_VERSION,
      generation: 1,
    };
    try {
      this.db
        .prepare(
          `INSERT INTO containers (id, sandbox_id, backend, name, attempt, image, labels, annotations,
             phase, created_at, updated_at_ms, record_version, generation, snapshot)
           VALUES (@id, @sandboxId, @backend, @name, @attempt, @image, @labels, @annotations,
             @phase, @createdAt, @updatedAtMs, @recordVersion, @generation, NULL)`,
        )
        .run({ ...full, labels: JSON.stringify(full.labels), annotations: JSON.stringify(full.annotations) });
    } catch (err) {
      throw uniqueViolation(
        err,
        `reserve container name ${rec.name} attempt ${rec.attempt} in sandbox ${rec.sandboxId}`,
        () => {
          const row = this.db
            .prepare('SELECT id FROM containers WHERE sandbox_id = ? AND name = ? AND attempt = ?')
            .get(rec.sandboxId, rec.name, rec.attempt) as { id: string } | undefined;
          return row?.id;
        },
      );
    }
    this.rev++;
    this.containers.set(full.id, full);
    return full;
  }

  getSandbox(id: string): SandboxRecord | undefined {
    const hit = this.sandboxes.get(id);
    if (hit) return hit;
    const row = this.db.prepare('SELECT * FROM sandboxes WHERE id = ?').get(id) as SandboxRow | undefined;
    if (!row) return undefined;
    const rec = sandboxFromRow(row);
    this.sandboxes.set(id, rec);
    return rec;
  }

  getContainer(id: string): ContainerRecord | undefined {
    const hit = this.containers.get(id);
    if (hit) return hit;
    const row = this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as ContainerRow | undefined;
    if (!row) return undefined;
    const rec = containerFromRow(row);
    this.containers.set(id, rec);
    return rec;
  }

  findSandboxByName(name: string, namespace: string, uid: string, attempt: number): SandboxRecord | undefined {
    const row = this.db
      .prepare('SELECT * FROM sandboxes WHERE name = ? AND namespace = ? AND uid = ? AND attempt = ?')
      .get(name, namespace, uid, attempt) as SandboxRow | undefined;
    return row ? sandboxFromRow(row) : undefined;
  }

  sandboxIdsByPrefix(prefix: string, limit: number): string[] {
    return this.idsByPrefix('sandboxes', prefix, limit);
  }

  containerIdsByPrefix(prefix: string, limit: number): string[] {
    return this.idsByPrefix('containers', prefix, limit);
  }

  private idsByPrefix(table: 'sandboxes' | 'containers', prefix: string, limit: number): string[] {
    // A range scan on the primary key: prefix <= id < prefix + U+FFFF. No LIKE, so no wildcard escaping issues.
    const rows = this.db
      .prepare(`SELECT id FROM ${table} WHERE id >= ? AND id < ? ORDER BY id LIMIT ?`)
      .all(prefix, prefix + '\uffff', limit) as { id: string }[];
    return rows.map((r) => r.id);
  }

  updateSandbox(id: string, patch: RecordPatch): SandboxRecord {
    const cur = this.getSandbox(id);
    if (!cur) throw new NotFoundError(`update pod sandbox ${id}: no such record`);
    const next: SandboxRecord = {
      ...cur,
      ...definedOnly(patch),
      updatedAtMs: Date.now(),
      generation: cur.generation + 1,
    };
    this.db
      .prepare('UPDATE sandboxes SET phase = ?, snapshot = ?, updated_at_ms = ?, generation = ? WHERE id = ?')
      .run(next.phase, next.snapshot ?? null, next.updatedAtMs, next.generation, id);
    this.rev++;
    this.sandboxes.set(id, next);
    return next;
  }

  updateContainer(id: string, patch: RecordPatch): ContainerRecord {
    const cur = this.getContainer(id);
    if (!cur) throw new NotFoundError(`update container ${id}: no such record`);
    const next: ContainerRecord = {
      ...cur,
      ...definedOnly(patch),
      updatedAtMs: Date.now(),
      generation: cur.generation + 1,
    };
    this.db
      .prepare('UPDATE containers SET phase = ?, snapshot = ?, updated_at_ms = ?, generation = ? WHERE id = ?')
      .run(next.phase, next.snapshot ?? null, next.updatedAtMs, next.generation, id);
    this.rev++;
    this.containers.set(id, next);
    return next;
  }

  deleteSandbox(id: string): void {
    this.db.prepare('DELETE FROM sandboxes WHERE id = ?').run(id);
    this.rev++;
    this.sandboxes.delete(id);
  }

  deleteContainer(id: string): void {
    this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
    this.rev++;
    this.containers.delete(id);
  }

  listSandboxes(filter: { backend?: string } = {}): SandboxRecord[] {
    const rows = (
      filter.backend === undefined
        ? this.db.prepare('SELECT * FROM sandboxes ORDER BY created_at').all()
        : this.db.prepare('SELECT * FROM sandboxes WHERE backend = ? ORDER BY created_at').all(filter.backend)
    ) as SandboxRow[];
    return rows.map(sandboxFromRow);
  }

  listContainers(filter: { backend?: string; sandboxId?: string } = {}): ContainerRecord[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.backend !== undefined) {
      where.push('backend = ?');
      args.push(filter.backend);
    }
    if (filter.sandboxId !== undefined) {
      where.push('sandbox_id = ?');
      args.push(filter.sandboxId);
    }
    const sql = `SELECT * FROM containers ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at`;
    return (this.db.prepare(sql).all(...args) as ContainerRow[]).map(containerFromRow);
  }

  close(): void {
    this.db.close();
  }
}

function definedOnly(patch: RecordPatch): RecordPatch {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as RecordPatch;
}

function uniqueViolation(err: unknown, what: string, holder: () => string | undefined): unknown {
  const code = (err as { code?: string }).code ?? '';
  if (!code.startsWith('SQLITE_CONSTRAINT')) return err;
  const id = holder();
  return new AlreadyExistsError(`${what}: already reserved${id ? ` by ${id}` : ''}`, { cause: err, context: { id } });
}
