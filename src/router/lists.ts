/**
 * Merged lists. Every backend's list comes from what is kept for it (./views.ts: kept until a change notice),
 * else it is asked, in parallel with the others and with its own deadline; entries are kept only for objects
 * crimux owns (a record exists and is past `creating`), and the CRI filters are applied once, here.
 * A backend that fails or is slow does not fail the list: its objects come from the last-known snapshot stored
 * on their records (or a minimal entry built from the record), and the failure is counted. Snapshots are
 * written when a list is fetched from a backend, not at every call.
 */
import type { Backend, CallContext } from '../backends/backend';
import type * as cri from '../cri/types';
import type { ContainerRecord, SandboxRecord } from '../state/types';
import type { RouterCore } from './core';
import { fanout, type FanoutResult } from './fanout';
import { matchContainer, matchSandbox, type ContainerFilterSpec, type SandboxFilterSpec } from './filters';

const SANDBOX_STATES = ['SANDBOX_READY', 'SANDBOX_NOTREADY'];
const CONTAINER_STATES = ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'];

/**
 * An unfiltered merged list as last answered, with what it was made from: each backend's list (by identity)
 * and the store's revision. The kubelet relists every second with no filter; while none of these changed, the
 * answer is the same frozen array, so neither the merge nor its encoding (src/cri/reply-encoding.ts) is redone.
 */
class LastMerge<T> {
  private last: { readonly parts: readonly unknown[]; readonly revision: number; readonly value: T[] } | undefined;

  constructor(private readonly revision: () => number) {}

  /** The last answer, if it was made from these very lists (undefined: not an unfiltered, whole merge). */
  get(parts: readonly unknown[] | undefined): T[] | undefined {
    const l = this.last;
    if (!parts || !l || l.revision !== this.revision() || l.parts.length !== parts.length) return undefined;
    return l.parts.every((p, i) => p === parts[i]) ? l.value : undefined;
  }

  /** The answer, kept (frozen: it is handed out again) when it was made from `parts`. */
  keep(parts: readonly unknown[] | undefined, value: T[]): T[] {
    if (parts) this.last = { parts, revision: this.revision(), value: Object.freeze(value) as T[] };
    return value;
  }
}

export class ListRouter {
  private readonly lastSandboxes: LastMerge<cri.PodSandbox>;
  private readonly lastContainers: LastMerge<cri.Container>;

  constructor(private readonly core: RouterCore) {
    this.lastSandboxes = new LastMerge(() => core.store.revision);
    this.lastContainers = new LastMerge(() => core.store.revision);
    core.views.onSandboxes = (backend, entries) => {
      for (const e of entries) {
        const rec = e.id ? core.store.getSandbox(e.id) : undefined;
        if (!rec || rec.backend !== backend || rec.phase === 'creating') continue;
        this.keepSnapshot(rec, { ...e, runtime_handler: rec.handler }, (id, snap) =>
          core.store.updateSandbox(id, { snapshot: snap }),
        );
      }
    };
    core.views.onContainers = (backend, entries) => {
      for (const e of entries) {
        const rec = e.id ? core.store.getContainer(e.id) : undefined;
        if (!rec || rec.backend !== backend || rec.phase === 'creating') continue;
        this.keepSnapshot(rec, e, (id, snap) => core.store.updateContainer(id, { snapshot: snap }));
      }
    };
  }

  private backends(): Backend[] {
    return [...this.core.backends.values()];
  }

  async sandboxes(ctx: CallContext, filter: SandboxFilterSpec): Promise<cri.PodSandbox[]> {
    const f = this.resolveFilterIds(filter, 'sandbox');
    if (!f) return [];
    const core = this.core;
    const results = await this.collect(ctx, 'sandboxes', (b, c) => core.views.listSandboxes(b, c));
    const parts = Object.keys(f).length === 0 ? listedParts(results) : undefined;
    const again = this.lastSandboxes.get(parts);
    if (again) return again;
    const out: cri.PodSandbox[] = [];
    for (const r of results) {
      let entries: cri.PodSandbox[];
      if (r.ok) {
        entries = [];
        for (const e of r.value) {
          // Record lookups by ID hit the store's cache: the kubelet relists every second.
          const rec = e.id ? core.store.getSandbox(e.id) : undefined;
          if (!rec || rec.backend !== r.backend.name || rec.phase === 'creating') continue;
          entries.push(e.runtime_handler === rec.handler ? e : { ...e, runtime_handler: rec.handler });
        }
      } else {
        core.metrics.listPartialFailures.inc({ backend: r.backend.name });
        const records = core.store.listSandboxes({ backend: r.backend.name });
        entries = records.filter((rec) => rec.phase !== 'creating').map(sandboxFromRecord);
      }
      if (!r.kept) this.countStates(core.metrics.sandboxes, r.backend.name, SANDBOX_STATES, entries);
      out.push(...entries);
    }
    return this.lastSandboxes.keep(parts, out.filter((s) => matchSandbox(s, f)).sort(byCreated));
  }

  async containers(ctx: CallContext, filter: ContainerFilterSpec): Promise<cri.Container[]> {
    const f = this.resolveFilterIds(filter, 'container');
    if (!f) return [];
    const core = this.core;
    const results = await this.collect(ctx, 'containers', (b, c) => core.views.listContainers(b, c));
    const parts = Object.keys(f).length === 0 ? listedParts(results) : undefined;
    const again = this.lastContainers.get(parts);
    if (again) return again;
    const out: cri.Container[] = [];
    for (const r of results) {
      let entries: cri.Container[];
      if (r.ok) {
        entries = [];
        for (const e of r.value) {
          const rec = e.id ? core.store.getContainer(e.id) : undefined;
          if (!rec || rec.backend !== r.backend.name || rec.phase === 'creating') continue;
          entries.push(e);
        }
      } else {
        core.metrics.listPartialFailures.inc({ backend: r.backend.name });
        const records = core.store.listContainers({ backend: r.backend.name });
        entries = records.filter((rec) => rec.phase !== 'creating').map(containerFromRecord);
      }
      if (!r.kept) this.countStates(core.metrics.containers, r.backend.name, CONTAINER_STATES, entries);
      out.push(...entries);
    }
    return this.lastContainers.keep(parts, out.filter((c) => matchContainer(c, f)).sort(byCreated));
  }

  /**
   * Each backend's list: what is kept for it as is (a list, or the failure of a backend found down), the others
   * fetched in one fan-out (with its per-backend deadline). Kept results skip the fan-out's timers and the state
   * gauges (those were set when it was fetched).
   */
  private async collect<T>(
    ctx: CallContext,
    key: 'sandboxes' | 'containers',
    fetch: (b: Backend, c: CallContext) => Promise<T[]>,
  ): Promise<(FanoutResult<T[]> & { kept?: boolean })[]> {
    const kept: (FanoutResult<T[]> & { kept: boolean })[] = [];
    const missing: Backend[] = [];
    for (const b of this.backends()) {
      const v = this.core.views.kept<T[]>(b.name, key);
      const down = v ? undefined : this.core.views.keptFailure(b.name, key);
      if (v) kept.push({ backend: b, ok: true, value: v, kept: true });
      else if (down) kept.push({ backend: b, ok: false, error: down.error, kept: true });
      else missing.push(b);
    }
    if (missing.length === 0) return kept;
    return [...kept, ...(await fanout(missing, ctx, this.core.settings.listTimeoutMs, fetch))];
  }

  /**
   * Short IDs in filters resolve like everywhere else; a filter naming an unknown object matches nothing
   * (undefined is returned so the caller answers an empty list without asking any backend).
   */
  resolveFilterIds<T extends { id?: string; podSandboxId?: string }>(
    filter: T,
    kind: 'sandbox' | 'container',
  ): T | undefined {
    const f = { ...filter };
    if (f.id) {
      const rec = kind === 'sandbox' ? this.core.findSandbox(f.id) : this.core.findContainer(f.id);
      if (!rec) return undefined;
      f.id = rec.id;
    }
    if (f.podSandboxId) {
      const s = this.core.findSandbox(f.podSandboxId);
      if (!s) return undefined;
      f.podSandboxId = s.id;
    }
    return f;
  }

  /** Persists the entry when it changed, so a later outage is answered with what was true last. */
  private keepSnapshot<T>(
    rec: { id: string; snapshot?: string },
    entry: T,
    save: (id: string, s: string) => void,
  ): void {
    const s = JSON.stringify(entry);
    if (s !== rec.snapshot) save(rec.id, s);
  }

  private countStates(
    gauge: RouterCore['metrics']['sandboxes'],
    backend: string,
    states: string[],
    entries: { state?: unknown }[],
  ): void {
    for (const state of states) {
      gauge.set({ backend, state }, entries.filter((e) => String(e.state) === state).length);
    }
  }
}

/**
 * Every backend's list (kept, or fetched this call and kept from now on), in backend order; undefined when one
 * failed (its entries then come from the records' snapshots).
 */
function listedParts(results: readonly { ok: boolean; value?: unknown }[]): unknown[] | undefined {
  const parts: unknown[] = [];
  for (const r of results) {
    if (!r.ok) return undefined;
    parts.push(r.value);
  }
  return parts;
}

/** created_at is int64 nanoseconds as a decimal string: compared as such (no BigInt per comparison at 1,000s). */
function byCreated(a: { created_at?: unknown }, b: { created_at?: unknown }): number {
  const x = String(a.created_at ?? '0');
  const y = String(b.created_at ?? '0');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The last-known entry, or a minimal one from the record: identity is never lost, state may be stale. */
export function sandboxFromRecord(rec: SandboxRecord): cri.PodSandbox {
  if (rec.snapshot) return JSON.parse(rec.snapshot) as cri.PodSandbox;
  return {
    id: rec.id,
    metadata: { name: rec.name, namespace: rec.namespace, uid: rec.uid, attempt: rec.attempt },
    state: 'SANDBOX_NOTREADY',
    created_at: rec.createdAt,
    labels: { ...rec.labels },
    annotations: { ...rec.annotations },
    runtime_handler: rec.handler,
  };
}

export function containerFromRecord(rec: ContainerRecord): cri.Container {
  if (rec.snapshot) return JSON.parse(rec.snapshot) as cri.Container;
  return {
    id: rec.id,
    pod_sandbox_id: rec.sandboxId,
    metadata: { name: rec.name, attempt: rec.attempt },
    image: { image: rec.image },
    state: 'CONTAINER_UNKNOWN',
    created_at: rec.createdAt,
    labels: { ...rec.labels },
    annotations: { ...rec.annotations },
  };
}
