/**
 * Container events (GetContainerEvents, the kubelet's evented PLEG), synthesised for every backend from what the
 * router sees: its own create/start/stop/remove calls, and — while anyone is subscribed — a periodic relist that
 * catches containers exiting on their own. Sandboxes emit events under their own ID, as containerd does.
 *
 * Events reach subscribers in the order they were emitted (each one's pod snapshot is fetched at once, but a slow
 * snapshot holds back the events after it rather than letting them overtake). A container's STOPPED is emitted
 * once, whoever notices first (StopContainer, StopPodSandbox, the exit watcher).
 *
 * Each subscriber has a bounded queue. A subscriber that stops reading is dropped when its queue is full (the
 * kubelet then relists and resubscribes); it never blocks the daemon or other subscribers.
 */
import { nowNsString } from '../util/clock';
import type * as cri from '../cri/types';

export type ContainerEventType =
  'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

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
  /** Delivery order: each emit chains onto the previous one. */
  private tail: Promise<void> = Promise.resolve();
  /** The last event type emitted per container/sandbox ID (dropped at DELETED), kept even with no subscriber. */
  private readonly last = new Map<string, ContainerEventType>();

  constructor(
    /** Statuses of a pod at the time of an event; best effort (a removed pod gives nulls). */
    private readonly describe: (sandboxId: string) => Promise<PodSnapshot>,
    private readonly queueLimit = 1000,
    /** Told of every event as it is emitted, subscribers or not (the router drops its kept views there). */
    private readonly onEmit: (id: string, sandboxId: string) => void = () => undefined,
  ) {}

  get subscribers(): number {
    return this.subs.size;
  }

  subscribe(): Subscription {
    const sub = new Sub(this.queueLimit, () => this.subs.delete(sub));
    this.subs.add(sub);
    return sub;
  }

  /** The last event type emitted for `id`, if any since it was created. */
  lastEvent(id: string): ContainerEventType | undefined {
    return this.last.get(id);
  }

  /** Emits an event about `id` (a container, or a sandbox itself) of pod `sandboxId`. Never throws, never waits. */
  emit(type: ContainerEventType, id: string, sandboxId: string): void {
    const prev = this.last.get(id);
    // Stopping is idempotent in the CRI (and the exit watcher may have seen the exit first): one STOPPED per stop.
    if (
      type === 'CONTAINER_STOPPED_EVENT' &&
      (prev === 'CONTAINER_STOPPED_EVENT' || prev === 'CONTAINER_DELETED_EVENT')
    )
      return;
    if (type === 'CONTAINER_DELETED_EVENT') this.last.delete(id);
    else this.last.set(id, type);
    this.onEmit(id, sandboxId);
    if (this.subs.size === 0) return;
    const createdAt = nowNsString();
    const snapshot = this.describe(sandboxId).catch((): PodSnapshot => ({
      podSandboxStatus: null,
      containersStatuses: [],
    }));
    this.tail = this.tail
      .then(() => snapshot)
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
      this.queue.length = 0; // nobody will read them: the subscriber relists
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
