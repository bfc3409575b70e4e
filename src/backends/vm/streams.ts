/**
 * Host end of guest byte streams (port-forward connections, interactive execs), keyed by pod and stream id.
 * Events for a stream can arrive before the code that asked for it has registered (they travel in the same read
 * as the reply), so early events are held briefly and replayed on registration.
 */
import type { Event } from './protocol';

export interface StreamSink {
  onData(data: Buffer, stream?: 'stdout' | 'stderr'): void;
  onClosed(exitCode?: number, error?: string): void;
}

type StreamEvent = Extract<Event, { sid: number }>;

const EARLY_MAX = 256;
const EARLY_TTL_MS = 30_000;

export class StreamRegistry {
  private readonly sinks = new Map<string, StreamSink>();
  private readonly early = new Map<string, { at: number; events: StreamEvent[] }>();

  register(podId: string, sid: number, sink: StreamSink): void {
    const key = `${podId}:${sid}`;
    this.sinks.set(key, sink);
    const held = this.early.get(key);
    this.early.delete(key);
    for (const e of held?.events ?? []) this.dispatch(podId, e);
  }

  unregister(podId: string, sid: number): void {
    this.sinks.delete(`${podId}:${sid}`);
  }

  dispatch(podId: string, e: StreamEvent): void {
    const key = `${podId}:${e.sid}`;
    const sink = this.sinks.get(key);
    if (!sink) {
      this.hold(key, e);
      return;
    }
    if (e.ev === 'data') sink.onData(Buffer.from(e.data, 'base64'), e.stream);
    else {
      this.sinks.delete(key);
      sink.onClosed(e.exitCode, e.error);
    }
  }

  private hold(key: string, e: StreamEvent): void {
    const now = Date.now();
    for (const [k, v] of this.early) if (now - v.at > EARLY_TTL_MS) this.early.delete(k);
    const entry = this.early.get(key) ?? { at: now, events: [] };
    if (entry.events.length < EARLY_MAX) entry.events.push(e);
    this.early.set(key, entry);
  }
}
