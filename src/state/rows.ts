/** Row ↔ record conversion for the SQLite store (snake_case columns, JSON maps). */
import type { ContainerRecord, RecordPhase, SandboxRecord } from './types';

export interface SandboxRow {
  id: string;
  backend: string;
  handler: string;
  reason: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  labels: string;
  annotations: string;
  phase: string;
  created_at: string;
  updated_at_ms: number;
  record_version: number;
  generation: number;
  snapshot: string | null;
}

export interface ContainerRow {
  id: string;
  sandbox_id: string;
  backend: string;
  name: string;
  attempt: number;
  image: string;
  labels: string;
  annotations: string;
  phase: string;
  created_at: string;
  updated_at_ms: number;
  record_version: number;
  generation: number;
  snapshot: string | null;
}

export function sandboxFromRow(r: SandboxRow): SandboxRecord {
  return {
    id: r.id,
    backend: r.backend,
    handler: r.handler,
    reason: r.reason,
    name: r.name,
    namespace: r.namespace,
    uid: r.uid,
    attempt: r.attempt,
    labels: JSON.parse(r.labels) as Record<string, string>,
    annotations: JSON.parse(r.annotations) as Record<string, string>,
    phase: r.phase as RecordPhase,
    createdAt: r.created_at,
    updatedAtMs: r.updated_at_ms,
    recordVersion: r.record_version,
    generation: r.generation,
    ...(r.snapshot === null ? {} : { snapshot: r.snapshot }),
  };
}

export function containerFromRow(r: ContainerRow): ContainerRecord {
  return {
    id: r.id,
    sandboxId: r.sandbox_id,
    backend: r.backend,
    name: r.name,
    attempt: r.attempt,
    image: r.image,
    labels: JSON.parse(r.labels) as Record<string, string>,
    annotations: JSON.parse(r.annotations) as Record<string, string>,
    phase: r.phase as RecordPhase,
    createdAt: r.created_at,
    updatedAtMs: r.updated_at_ms,
    recordVersion: r.record_version,
    generation: r.generation,
    ...(r.snapshot === null ? {} : { snapshot: r.snapshot }),
  };
}
