/**
 * What the kubelet asks most, answered from memory (issue #21): each backend's sandbox and container lists and
 * the statuses of its objects are kept per backend under a generation number. A change notice bumps the
 * generation and drops what was kept; the next call fetches once (concurrent callers share that one fetch).
 *
 * Change notices come from:
 *  - the router itself: every create/start/stop/remove emits an event (RouterCore hooks the bus), and
 *    UpdateContainerResources calls `changed` directly — so a change made through crimux is in the next list;
 *  - the refresh loop (ExitWatcher with views): it relists every backend each interval and bumps the
 *    generation when an object appeared, vanished or changed state on its own (an exit, a VM that died);
 *  - stats are kept for a fixed time (the kubelet's housekeeping interval), see `stats`.
 *
 * A fetch that fails is not kept: the caller falls back as before (lists: the last-known snapshot on the
 * records). A fetch that raced with a change notice is returned to its callers but not kept.
 *
 * A backend found down (a list fetch failed with Unavailable or ran past its deadline) is not asked again at
 * every call: the kubelet relists every second, and each of those calls paid a failed connection or the whole
 * list deadline before answering from the snapshots. The failure is kept like a list, until the refresh loop
 * gets an answer from the backend again (within one interval of its return) or a change notice.
 */
import type { Backend, CallContext } from '../backends/backend';
import type * as cri from '../cri/types';
import { errorKind } from '../errors';
import { containerEntry, containerState } from './shape-container';
import { sandboxEntry, sandboxState } from './shape-sandbox';

interface Slot {
  gen: number;
  readonly values: Map<string, unknown>;
  readonly inflight: Map<string, { gen: number; promise: Promise<unknown> }>;
  /** The error of a list fetch that found the backend down, by list key, until it answers again. */
  readonly down: Map<ListKey, unknown>;
}

type ListKey = 'sandboxes' | 'containers';

/** A failure that says the backend is down or hung, not that this one request was wrong. */
function backendDown(err: unknown): boolean {
  const kind = errorKind(err);
  return kind === 'Unavailable' || kind === 'DeadlineExceeded';
}

export interface ViewOptions {
  /** Deadline of one shared fetch (it serves several callers, so it does not take any one caller's signal). */
  readonly fetchTimeoutMs: number;
  /** Aborts shared fetches at daemon shutdown. */
  readonly shutdown: AbortSignal;
  /** How long a ListContainerStats/ListPodSandboxStats result is kept; 0 keeps none. */
  readonly statsTtlMs: number;
  /** Keep lists and statuses between change notices; only where a refresh loop feeds changes (the daemon). */
  readonly keep: boolean;
}

export class BackendViews {
  private readonly slots = new Map<string, Slot>();
  /** Settled stats lists by backend/kind; `refreshing` while a background fetch replaces one. */
  private readonly stats = new Map<string, { at: number; gen: number; value: Promise<unknown>; refreshing: boolean }>();
  private readonly statsInflight = new Map<string, { gen: number; value: Promise<unknown> }>();

  constructor(private readonly opts: ViewOptions) {}

  /** Something about `backend`'s objects changed (or may have): forget what is kept for it. */
  changed(backend: string): void {
    const s = this.slot(backend);
    s.gen++;
    s.values.clear();
    s.down.clear();
  }

  /** Every backend changed (e.g. an event about an object whose owner is no longer known). */
  changedAll(): void {
    for (const name of this.slots.keys()) this.changed(name);
  }

  generation(backend: string): number {
    return this.slot(backend).gen;
  }

  /**
   * Called with every list fetched from a backend (by a caller or by the refresh loop): the list router keeps
   * the last-known snapshots on the records from here, so an outage later is answered with what was true last.
   */
  onSandboxes: (backend: string, v: cri.PodSandbox[]) => void = () => undefined;
  onContainers: (backend: string, v: cri.Container[]) => void = () => undefined;

  /** What is kept for a backend's list right now, without fetching ('sandboxes' or 'containers'). */
  kept<T>(backend: string, key: ListKey): T | undefined {
    if (!this.opts.keep) return undefined;
    return this.slots.get(backend)?.values.get(key) as T | undefined;
  }

  /** The error of the last fetch of this list when it found the backend down and it has not answered since. */
  keptFailure(backend: string, key: ListKey): { error: unknown } | undefined {
    if (!this.opts.keep) return undefined;
    const s = this.slots.get(backend);
    return s?.down.has(key) ? { error: s.down.get(key) } : undefined;
  }

  listSandboxes(b: Backend, ctx: CallContext): Promise<cri.PodSandbox[]> {
    return this.get(b.name, 'sandboxes', ctx, async (c) => {
      const v = (await b.listPodSandboxes(c)).map(sandboxEntry);
      this.onSandboxes(b.name, v);
      return v;
    });
  }

  listContainers(b: Backend, ctx: CallContext): Promise<cri.Container[]> {
    return this.get(b.name, 'containers', ctx, async (c) => {
      const v = (await b.listContainers(c)).map(containerEntry);
      this.onContainers(b.name, v);
      return v;
    });
  }

  /** A non-verbose status (verbose ones carry backend diagnostics that are fetched each time). */
  status<T>(backend: string, key: string, ctx: CallContext, fetch: (c: CallContext) => Promise<T>): Promise<T> {
    return this.get(backend, `status/${key}`, ctx, fetch);
  }

  /**
   * A stats list, kept for statsTtlMs (stats carry their own timestamps, from which the kubelet computes rates,
   * so a result one housekeeping interval old is what cAdvisor would answer too). A result older than that but
   * asked for again within two more intervals is answered at once while a fresh one is gathered in the
   * background (one cgroup walk per interval however many callers). A change notice for the backend drops it,
   * so a container created or removed through crimux is in (or out of) the next call.
   */
  statsList<T>(b: Backend, key: string, ctx: CallContext, fetch: (c: CallContext) => Promise<T>): Promise<T> {
    const ttl = this.opts.statsTtlMs;
    if (ttl <= 0) return fetch(ctx);
    const k = `${b.name}/${key}`;
    const gen = this.slot(b.name).gen;
    const now = Date.now();
    const kept = this.stats.get(k);
    const start = (): Promise<T> => {
      const value = fetch(this.shared(ctx));
      const entry = { at: Date.now(), gen, value, refreshing: false };
      value.then(
        () => {
          const cur = this.stats.get(k);
          if (!cur || cur.at <= entry.at) this.stats.set(k, entry);
        },
        () => undefined,
      );
      return value;
    };
    if (kept && kept.gen === gen) {
      const age = now - kept.at;
      if (age < ttl) return kept.value as Promise<T>;
      if (age < 3 * ttl) {
        if (!kept.refreshing) {
          kept.refreshing = true;
          start().catch(() => (kept.refreshing = false));
        }
        return kept.value as Promise<T>;
      }
    }
    // Nothing usable: callers wait for one shared fetch.
    const running = this.statsInflight.get(k);
    if (running && running.gen === gen) return running.value as Promise<T>;
    const value = start();
    const entry = { gen, value: value as Promise<unknown> };
    this.statsInflight.set(k, entry);
    const clear = (): void => {
      if (this.statsInflight.get(k) === entry) this.statsInflight.delete(k);
    };
    value.then(clear, clear);
    return value;
  }

  /**
   * Fetches both lists of `b` fresh (the refresh loop) and keeps them; bumps the generation when anything is new,
   * gone or in another state than what was kept. Returns the containers for the exit watcher.
   */
  async refresh(b: Backend, ctx: CallContext): Promise<cri.Container[]> {
    const s = this.slot(b.name);
    const gen = s.gen;
    const c = this.opts.keep ? this.shared(ctx) : ctx;
    let sandboxFacts, containerFacts;
    try {
      [sandboxFacts, containerFacts] = await Promise.all([b.listPodSandboxes(c), b.listContainers(c)]);
    } catch (err) {
      if (this.opts.keep && s.gen === gen && backendDown(err)) {
        s.down.set('sandboxes', err);
        s.down.set('containers', err);
      }
      throw err;
    }
    s.down.clear();
    const keptS = s.values.get('sandboxes') as cri.PodSandbox[] | undefined;
    const keptC = s.values.get('containers') as cri.Container[] | undefined;
    // Nothing appeared, vanished or changed state since the kept lists were fetched (the usual tick): they stand,
    // and so do the snapshots recorded from them — no entry is shaped or serialized again.
    if (
      s.gen === gen &&
      keptS &&
      keptC &&
      sameStates(keptS, sandboxFacts, sandboxState) &&
      sameStates(keptC, containerFacts, containerState)
    ) {
      return keptC;
    }
    const sandboxes = sandboxFacts.map(sandboxEntry);
    const containers = containerFacts.map(containerEntry);
    this.onSandboxes(b.name, sandboxes);
    this.onContainers(b.name, containers);
    if (s.gen !== gen) return containers; // a change notice came meanwhile: the next call fetches anyway
    // Without both lists kept there is nothing to compare with, yet statuses may be kept from before an exit
    // (a client that polls ContainerStatus and never lists): drop them rather than keep a stale state forever.
    const stale =
      keptS && keptC
        ? !sameStates(keptS, sandboxes, entryState) || !sameStates(keptC, containers, entryState)
        : s.values.size > 0;
    if (stale) this.changed(b.name);
    if (!s.values.has('sandboxes')) s.values.set('sandboxes', sandboxes);
    if (!s.values.has('containers')) s.values.set('containers', containers);
    return containers;
  }

  private get<T>(backend: string, key: string, ctx: CallContext, fetch: (c: CallContext) => Promise<T>): Promise<T> {
    if (!this.opts.keep) return fetch(ctx);
    const s = this.slot(backend);
    if (s.values.has(key)) return Promise.resolve(s.values.get(key) as T);
    const running = s.inflight.get(key);
    if (running && running.gen === s.gen) return running.promise as Promise<T>;
    const gen = s.gen;
    const promise = fetch(this.shared(ctx)).then(
      (v) => {
        if (s.gen === gen) s.values.set(key, v);
        return v;
      },
      (err: unknown) => {
        if (s.gen === gen && (key === 'sandboxes' || key === 'containers') && backendDown(err)) s.down.set(key, err);
        throw err;
      },
    );
    const entry = { gen, promise };
    s.inflight.set(key, entry);
    const clear = (): void => {
      if (s.inflight.get(key) === entry) s.inflight.delete(key);
    };
    promise.then(clear, clear);
    return promise;
  }

  private shared(ctx: CallContext): CallContext {
    return {
      signal: AbortSignal.any([this.opts.shutdown, AbortSignal.timeout(this.opts.fetchTimeoutMs)]),
      log: ctx.log,
    };
  }

  private slot(name: string): Slot {
    let s = this.slots.get(name);
    if (!s) this.slots.set(name, (s = { gen: 0, values: new Map(), inflight: new Map(), down: new Map() }));
    return s;
  }
}

/**
 * Whether a fetched list has the kept list's IDs and states in the same order — what an exit, a start, a create or
 * a removal changes. Compared entry by entry, without allocating: the refresh loop asks at every tick.
 */
function sameStates<T extends { id?: string }>(
  kept: readonly { id?: string; state?: unknown }[],
  fetched: readonly T[],
  state: (item: T) => string,
): boolean {
  if (kept.length !== fetched.length) return false;
  for (let i = 0; i < kept.length; i++) {
    const k = kept[i]!;
    const f = fetched[i]!;
    if ((k.id ?? '') !== (f.id ?? '') || String(k.state) !== state(f)) return false;
  }
  return true;
}

const entryState = (e: { state?: unknown }): string => String(e.state);
