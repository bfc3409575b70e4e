/**
 * What every router module shares: the enabled backends by name, the ownership store, the routing table, the
 * per-sandbox lock, and the lookups that turn a (possibly short) ID into its owner. Existing IDs are always routed
 * by the backend name stored on the record — never re-derived and never sent to a default backend.
 */
import type { Backend, CallContext, HandlerSpec } from '../backends/backend';
import { FailedPreconditionError, NotFoundError } from '../errors';
import type { Logger } from '../log/logger';
import type { Metrics } from '../metrics/metrics';
import type { ContainerRecord, OwnershipStore, SandboxRecord } from '../state/types';
import { KeyedMutex } from '../util/keyed-mutex';
import { resolveId } from './ids';
import type { RoutingTable } from './select';
import type { ValidationPolicy } from './validate';
import { PendingCreates } from './pending-creates';
import { EventBus, type PodSnapshot } from './events';
import { BackendViews } from './views';
import { containerStatus } from './shape-container';
import { sandboxStatus } from './shape-sandbox';

const FULL_ID = 64;

export interface RouterSettings {
  readonly listTimeoutMs: number;
  /** Upper bound of one backend create (sandbox or container), independent of the caller's deadline. */
  readonly createTimeoutMs: number;
  /** How long an undo step may take after a failed create. */
  readonly undoTimeoutMs: number;
  readonly validation: ValidationPolicy;
  /** How long a stats list is kept (the kubelet's housekeeping interval); 0 or absent keeps none. */
  readonly statsCacheMs?: number;
  /**
   * Keep lists and statuses in memory between change notices (./views.ts). Only with a refresh loop running
   * (the daemon's ExitWatcher with views), which is what makes changes outside crimux visible.
   */
  readonly keepLists?: boolean;
  /** The daemon's one pod network: UpdateRuntimeConfig's pod CIDR goes there once, not through each backend. */
  readonly podNetwork?: { updatePodCidr(cidr: string): void };
}

export class RouterCore {
  readonly lock = new KeyedMutex();
  readonly pending = new PendingCreates();
  readonly events: EventBus;
  /** Lists and statuses kept per backend until a change notice (./views.ts). */
  readonly views: BackendViews;

  constructor(
    readonly store: OwnershipStore,
    readonly backends: ReadonlyMap<string, Backend>,
    readonly metrics: Metrics,
    readonly log: Logger,
    public table: RoutingTable,
    /** Handler name → spec with options; replaced with the table on SIGHUP. */
    public handlers: ReadonlyMap<string, HandlerSpec>,
    readonly settings: RouterSettings,
    /** Aborted when the daemon shuts down; creates that outlive their caller still stop then. */
    readonly shutdown: AbortSignal,
  ) {
    this.views = new BackendViews({
      fetchTimeoutMs: settings.listTimeoutMs,
      shutdown,
      statsTtlMs: settings.statsCacheMs ?? 0,
      keep: settings.keepLists ?? false,
    });
    // Every event the router emits is a change to its pod's backend: what is kept for it is dropped before
    // anyone can list again (emit runs synchronously in the call that made the change).
    this.events = new EventBus(
      (sandboxId) => this.describePod(sandboxId),
      1000,
      (_id, sandboxId) => this.changedPod(sandboxId),
    );
  }

  /** A change to the objects of pod `sandboxId`: its backend's kept views are dropped (all, if it is gone). */
  changedPod(sandboxId: string): void {
    const rec = this.store.getSandbox(sandboxId);
    if (rec) this.views.changed(rec.backend);
    else this.views.changedAll();
  }

  /** The backend a record names; FailedPrecondition when it is no longer enabled (config changed). */
  backend(name: string): Backend {
    const b = this.backends.get(name);
    if (!b) {
      throw new FailedPreconditionError(
        `route to backend ${name}: not enabled in this daemon (enabled: ${[...this.backends.keys()].join(', ')})`,
      );
    }
    return b;
  }

  findSandbox(idOrPrefix: string): SandboxRecord | undefined {
    // A full ID (what the kubelet always sends) is a cached lookup; only short prefixes need the index scan.
    if (idOrPrefix.length === FULL_ID) return this.store.getSandbox(idOrPrefix);
    const id = resolveId('pod sandbox', idOrPrefix, (p, n) => this.store.sandboxIdsByPrefix(p, n));
    return id === undefined ? undefined : this.store.getSandbox(id);
  }

  findContainer(idOrPrefix: string): ContainerRecord | undefined {
    if (idOrPrefix.length === FULL_ID) return this.store.getContainer(idOrPrefix);
    const id = resolveId('container', idOrPrefix, (p, n) => this.store.containerIdsByPrefix(p, n));
    return id === undefined ? undefined : this.store.getContainer(id);
  }

  /** A sandbox that callers may see: a record still `creating` has not been returned to anyone yet. */
  mustFindSandbox(idOrPrefix: string): SandboxRecord {
    const rec = this.findSandbox(idOrPrefix);
    if (!rec || rec.phase === 'creating') {
      throw new NotFoundError(`pod sandbox ${idOrPrefix} not found`, { context: { id: idOrPrefix } });
    }
    return rec;
  }

  mustFindContainer(idOrPrefix: string): ContainerRecord {
    const rec = this.findContainer(idOrPrefix);
    if (!rec || rec.phase === 'creating') {
      throw new NotFoundError(`container ${idOrPrefix} not found`, { context: { id: idOrPrefix } });
    }
    return rec;
  }

  /** The statuses an event carries: the pod's and its containers', fetched from the owning backend. */
  private async describePod(sandboxId: string): Promise<PodSnapshot> {
    const rec = this.store.getSandbox(sandboxId);
    if (!rec) return { podSandboxStatus: null, containersStatuses: [] };
    const backend = this.backend(rec.backend);
    const ctx: CallContext = { signal: AbortSignal.timeout(this.settings.listTimeoutMs), log: this.log };
    const [pod, ...ctrs] = await Promise.allSettled([
      backend.podSandboxStatus(ctx, rec.id, false),
      ...this.store.listContainers({ sandboxId: rec.id }).map((c) => backend.containerStatus(ctx, c.id, false)),
    ]);
    return {
      podSandboxStatus:
        pod?.status === 'fulfilled' ? { ...sandboxStatus(pod.value.facts), runtime_handler: rec.handler } : null,
      containersStatuses: ctrs.flatMap((c) => (c.status === 'fulfilled' ? [containerStatus(c.value.facts)] : [])),
    };
  }

  /** A context for one backend call: the caller's signal and a logger with the object's fields. */
  ctxFor(ctx: CallContext, fields: Record<string, unknown>): CallContext {
    return { signal: ctx.signal, log: ctx.log.child(fields) };
  }
}
