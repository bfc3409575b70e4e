/**
 * Schema migrations of the ownership store, applied in order; PRAGMA user_version records how many ran.
 * Never edit a released step: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sandboxes (
     id TEXT PRIMARY KEY,
     backend TEXT NOT NULL,
     handler TEXT NOT NULL,
     reason TEXT NOT NULL,
     name TEXT NOT NULL,
     namespace TEXT NOT NULL,
     uid TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     labels TEXT NOT NULL,
     annotations TEXT NOT NULL,
     phase TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at_ms INTEGER NOT NULL,
     record_version INTEGER NOT NULL,
     generation INTEGER NOT NULL,
     snapshot TEXT,
     UNIQUE (name, namespace, uid, attempt)
   );
   CREATE TABLE containers (
     id TEXT PRIMARY KEY,
     sandbox_id TEXT NOT NULL,
     backend TEXT NOT NULL,
     name TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     image TEXT NOT NULL,
     labels TEXT NOT NULL,
     annotations TEXT NOT NULL,
     phase TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at_ms INTEGER NOT NULL,
     record_version INTEGER NOT NULL,
     generation INTEGER NOT NULL,
     snapshot TEXT,
     UNIQUE (sandbox_id, name, attempt)
   );
   CREATE INDEX containers_by_sandbox ON containers (sandbox_id);
   CREATE INDEX sandboxes_by_backend ON sandboxes (backend);
   CREATE INDEX containers_by_backend ON containers (backend);`,
];
