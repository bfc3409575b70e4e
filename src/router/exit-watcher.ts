/**
 * Catches containers that exit on their own (no StopContainer call) so GetContainerEvents reports them: while
 * anyone is subscribed, relist every backend once a second and emit CONTAINER_STOPPED_EVENT for each container
 * that went from running (seen by the last tick, or last reported STARTED) to exited. Without views it costs
 * nothing when nobody subscribes.
 *
 * With views (the daemon), it is also the change feed of the kept lists (issue #21): every tick relists every
 * backend through `views.refresh`, which drops what is kept for a backend whose objects appeared, vanished or
 * changed state on their own — so such a change is in the lists within one interval, subscribers or not.
 */
import type { Backend } from '../backends/backend';
import type { Logger } from '../log/logger';
import type { EventBus } from './events';
import type { BackendViews } from './views';
import { containerEntry } from './shape-container';

export class ExitWatcher {
  private timer: NodeJS.Timeout | undefined;
  private last = new Map<string, string>();
  private busy = false;

  constructor(
    private readonly bus: EventBus,
    private readonly backends: () => Backend[],
    private readonly log: Logger,
    private readonly intervalMs = 1000,
    private readonly views?: BackendViews,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.bus.subscribers === 0 && !this.views) {
      this.last.clear();
      return;
    }
    if (this.busy) return;
    this.busy = true;
    try {
      const next = new Map<string, string>();
      const lists = await Promise.allSettled(
        this.backends().map((b) => {
          const ctx = { signal: AbortSignal.timeout(this.intervalMs * 2), log: this.log };
          return this.views ? this.views.refresh(b, ctx) : b.listContainers(ctx).then((l) => l.map(containerEntry));
        }),
      );
      if (this.bus.subscribers === 0) {
        this.last.clear();
        return;
      }
      for (const l of lists) {
        if (l.status !== 'fulfilled') continue;
        for (const c of l.value) {
          if (!c.id) continue;
          const state = String(c.state);
          next.set(c.id, state);
          // Also a container that started and exited between two ticks (never seen running): the bus knows it
          // started. The bus drops a STOPPED already emitted by StopContainer.
          const wasRunning =
            this.last.get(c.id) === 'CONTAINER_RUNNING' || this.bus.lastEvent(c.id) === 'CONTAINER_STARTED_EVENT';
          if (wasRunning && state === 'CONTAINER_EXITED') {
            this.bus.emit('CONTAINER_STOPPED_EVENT', c.id, c.pod_sandbox_id ?? '');
          }
        }
      }
      this.last = next;
    } finally {
      this.busy = false;
    }
  }
}
