/**
 * The set of running log copiers, one per container with a CRI log path. Started at StartContainer, resumed for
 * every container with unfinished copying when the backend starts or dockerd comes back, stopped at removal.
 * The map is only a handle on running copiers: where copying stands is always on disk (log-position.ts).
 */
import path from 'node:path';
import type { Logger } from '../../log/logger';
import type { DockerEngine } from './engine-client';
import { LogCopier, type CopierTarget } from './log-copier';
import { LogPositions } from './log-position';
import type { RecordFiles } from '../host';

export class LogCopiers {
  private readonly copiers = new Map<string, LogCopier>();
  private readonly positions: LogPositions;
  private closed = false;

  constructor(
    private readonly engine: DockerEngine,
    stateDir: string,
    files: RecordFiles,
    private readonly log: Logger,
  ) {
    this.positions = new LogPositions(path.join(stateDir, 'logs'), files);
  }

  /**
   * Copies the container's output unless a copier already runs or copying finished earlier. Safe to repeat.
   * `running` false with a finished marker means nothing is left to copy.
   */
  async ensure(target: CopierTarget, running: boolean): Promise<void> {
    if (this.closed || !target.logPath) return;
    const current = this.copiers.get(target.id);
    if (current) return;
    const point = await this.positions.resumePoint(target.id, target.logPath);
    if (point.done && !running) return;
    if (this.copiers.has(target.id)) return; // started concurrently while we read the position
    const log = this.log.child({ container: target.id, logPath: target.logPath });
    const copier = new LogCopier(this.engine, this.positions, target, point.position, log);
    this.copiers.set(target.id, copier);
    log.debug('log copier started', { resumeFrom: point.position?.ts.toString() ?? 'start' });
    void copier.finished.then(() => {
      if (this.copiers.get(target.id) === copier) this.copiers.delete(target.id);
    });
  }

  /** Reopens the log file of a running copier; false when none runs (the container is not running). */
  async reopen(id: string): Promise<boolean> {
    const copier = this.copiers.get(id);
    if (!copier) return false;
    await copier.reopen();
    return true;
  }

  /** Waits until copying of a container finished (it exited and was drained), bounded by `signal`. */
  async drained(id: string, signal?: AbortSignal): Promise<void> {
    const copier = this.copiers.get(id);
    if (!copier) return;
    await Promise.race([
      copier.finished,
      new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true })),
    ]);
  }

  /** Stops copying for a removed container and forgets its position. */
  async forget(id: string): Promise<void> {
    const copier = this.copiers.get(id);
    this.copiers.delete(id);
    await copier?.stop();
    await this.positions.remove(id);
  }

  has(id: string): boolean {
    return this.copiers.has(id);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.copiers.values()];
    this.copiers.clear();
    await Promise.allSettled(all.map((c) => c.stop()));
  }
}
