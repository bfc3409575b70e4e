/**
 * Catches containers that exit on their own (no StopContainer call) so GetContainerEvents reports them: while
 * anyone is subscribed, relist every backend once a second and emit CONTAINER_STOPPED_EVENT for each container
 * that went from running (seen by the last tick, or last reported STARTED) to exited. Costs nothing when nobody subscribes.
 */
import type { Backend } from '../backends/backend';
import type { Logger } from '../log/logger';
import type { EventBus } from './events';

export class ExitWatcher {
  private timer: NodeJS.Timeout | undefined;
  private last = new Map<string, string>();
  private busy = false;

  constructor(
    private readonly bus: EventBus,
    private readonly backends: () => Backend[],
    private readonly log: Logger,
    private readonly intervalMs = 1000,
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
    if (this.bus.subscribers === 0) {
      this.last.clear();
      return;
    }
    if (this.busy) return;
    this.busy = true;
    try {
      const next = new Map<string, string>();
      const lists = await Promise.allSettled(
        this.backends().map((b) =>
          b.listContainers({ signal: AbortSignal.timeout(this.intervalMs * 2), log: this.log }),
        ),
      );
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
