/**
 * Book-keeping for live streaming sessions: the crimux_streaming_sessions gauge and the duration histogram
 * (labels kind, backend), one log line when a URL is used and one when its session ends, and the list of
 * sessions to end when the daemon stops (so shutdown never leaves an exec'd process or a socket behind).
 */
import type { Logger } from '../log/logger';
import type { Metrics } from '../metrics/metrics';
import { targetFields, type StreamRequest } from './requests';

export interface SessionHandle {
  readonly log: Logger;
  /** Record the end of the session (idempotent). */
  end(fields?: Record<string, unknown>): void;
}

export class SessionTracker {
  private readonly active = new Map<SessionHandle, () => void>();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.active.size;
  }

  /** A URL was used and its connection upgraded; `stop` ends the session at daemon shutdown. */
  begin(
    req: StreamRequest,
    conn: { remote: string; transport: string; protocol: string },
    stop: () => void,
  ): SessionHandle {
    const labels = { kind: req.kind, backend: req.backend.name };
    const log = this.log.child({
      ...targetFields(req),
      remote: conn.remote,
      transport: conn.transport,
      protocol: conn.protocol || '(none)',
    });
    const started = process.hrtime.bigint();
    this.metrics.streamingSessions.inc(labels);
    log.info('streaming URL used');
    let ended = false;
    const handle: SessionHandle = {
      log,
      end: (fields) => {
        if (ended) return;
        ended = true;
        this.active.delete(handle);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.metrics.streamingSessions.dec(labels);
        this.metrics.streamingSessionDuration.observe(labels, seconds);
        log.info('streaming session ended', { ...fields, durationSeconds: seconds.toFixed(3) });
      },
    };
    this.active.set(handle, stop);
    return handle;
  }

  /** End every live session (daemon shutdown). */
  stopAll(): void {
    for (const stop of [...this.active.values()]) stop();
  }
}
