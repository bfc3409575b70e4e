/**
 * Container events (GetContainerEvents, the kubelet's evented PLEG), synthesised for every backend from what the
 * router sees: its own create/start/stop/remove calls, and — while anyone is subscribed — a periodic relist that
 * catches containers exiting on their own. Sandboxes emit events under their own ID, as containerd does.
 *
 * Each subscriber has a bounded queue. A subscriber that stops reading is dropped when its queue is full (the
 * kubelet then relists and resubscribes); it never blocks the daemon or other subscribers.
 */
import type * as cri from '../cri/types';

export type ContainerEventType =
  | 'CONTAINER_CREATED_EVENT'
  | 'CONTAINER_STARTED_EVENT'
  | 'CONTAINER_STOPPED_EVENT'
  | 'CONTAINER_DELETED_EVENT';

export interface PodSnapshot {
  podSandboxStatus: cri.PodSandboxStatus | null;
  containersStatuses: cri.ContainerStatus[];
}

export interface Subscription {
  /** Resolves with the next event, or undefined once the subscription ended. */
  next(): Promise<cri.ContainerEventResponse | undefined>;
  close(): void;
  /** Why it ended, when the bus dropped it. */
  readonly dropped: string | undefined;
}

export class EventBus {
  private readonly subs = new Set<Sub>();

  constructor(
    /** Statuses of a pod at the time of an event; best effort (a removed pod gives nulls). */
    private readonly describe: (sandboxId: string) => Promise<PodSnapshot>,
    private readonly queueLimit = 1000,
  ) {}

  get subscribers(): number {
    return this.subs.size;
  }

  subscribe(): Subscription {
    const sub = new Sub(this.queueLimit, () => this.subs.delete(sub));
    this.subs.add(sub);
    return sub;
  }

  /** Emits an event about `id` (a container, or a sandbox itself) of pod `sandboxId`. Never throws, never waits. */
  emit(type: ContainerEventType, id: string, sandboxId: string): void {
    if (this.subs.size === 0) return;
    const createdAt = (BigInt(Date.now()) * 1_000_000n).toString();
    this.describe(sandboxId)
      .catch((): PodSnapshot => ({ podSandboxStatus: null, containersStatuses: [] }))
      .then((snap) => {
        const ev: cri.ContainerEventResponse = {
          container_id: id,
          container_event_type: type,
          created_at: createdAt,
          pod_sandbox_status: snap.podSandboxStatus,
          containers_statuses: snap.containersStatuses,
        };
        for (const s of this.subs) s.push(ev);
      })
      .catch(() => undefined);
  }
}

class Sub implements Subscription {
  private readonly queue: cri.ContainerEventResponse[] = [];
  private waiter: ((ev: cri.ContainerEventResponse | undefined) => void) | undefined;
  private ended = false;
  dropped: string | undefined;

  constructor(
    private readonly limit: number,
    private readonly onEnd: () => void,
  ) {}

  push(ev: cri.ContainerEventResponse): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(ev);
      return;
    }
    if (this.queue.length >= this.limit) {
      this.dropped = `subscriber fell ${this.limit} events behind`;
      this.close();
      return;
    }
    this.queue.push(ev);
  }

  next(): Promise<cri.ContainerEventResponse | undefined> {
    const ev = this.queue.shift();
    if (ev || this.ended) return Promise.resolve(ev);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined);
  }
}
