/**
 * Backend health tracked in the background (issue #21): the kubelet calls Status every few seconds, and probing
 * every backend at call time (an HTTP round trip to dockerd, VM and nspawn checks) made Status ~50× slower than
 * containerd's. A loop probes each backend on its own timer (never two probes of one backend at once, each
 * bounded by the probe timeout); a call that fails with Unavailable asks for an immediate re-probe so an outage
 * shows in Status without waiting for the next tick. Readers get the last-known health and only wait while a
 * backend has no result yet or a failure-triggered re-probe is running.
 */
import type { Backend, BackendHealth, CallContext } from '../backends/backend';
import { errorKind, errorMessage } from '../errors';
import type { Logger } from '../log/logger';
import { withDeadline } from './fanout';

export interface HealthMonitorOptions {
  readonly backends: () => Backend[];
  readonly log: Logger;
  /** Deadline of one probe; a probe that takes longer reports the backend down. */
  readonly timeoutMs: number;
  /** Called with every probe result (the crimux_backend_up gauge). */
  readonly onResult: (backend: string, health: BackendHealth) => void;
}

interface Slot {
  last?: BackendHealth;
  inflight?: Promise<BackendHealth>;
  /** The running probe was asked for by a failure: readers wait for it rather than report stale health. */
  urgent: boolean;
  /** A re-probe was asked for while a probe was running: it may predate the failure, so probe once more. */
  again: boolean;
}

export class HealthMonitor {
  private readonly slots = new Map<string, Slot>();
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  /** known()'s answer, the same object until a backend's health changes (Status keeps its reply while it is). */
  private current: Record<string, BackendHealth> | undefined;

  constructor(private readonly opts: HealthMonitorOptions) {}

  get started(): boolean {
    return this.timer !== undefined;
  }

  /** Probe every backend now and then every intervalMs. The timer does not keep the process alive. */
  start(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), Math.max(100, intervalMs));
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.abort.abort(new Error('health monitor stopped'));
  }

  /** Re-probe a backend at once (a call to it failed with Unavailable); readers wait for that result. */
  reprobe(backend: string): void {
    const b = this.opts.backends().find((x) => x.name === backend);
    if (!b || !this.started) return;
    const slot = this.slot(backend);
    slot.urgent = true;
    this.current = undefined; // readers wait for the re-probe
    if (slot.inflight) slot.again = true;
    else void this.probe(b);
  }

  /** For a backend wrapper: forwards failures of kind Unavailable to reprobe(). */
  noteFailure(backend: string, err: unknown): void {
    if (errorKind(err) === 'Unavailable') this.reprobe(backend);
  }

  /**
   * Last-known health of every backend, at once, when there is one for each and no failure-triggered re-probe
   * is running; otherwise undefined (snapshot() then waits).
   */
  known(): Record<string, BackendHealth> | undefined {
    const backends = this.opts.backends();
    if (this.current && Object.keys(this.current).length === backends.length) return this.current;
    const out: Record<string, BackendHealth> = {};
    for (const b of backends) {
      const slot = this.slots.get(b.name);
      if (!slot?.last || (slot.urgent && slot.inflight)) return undefined;
      out[b.name] = slot.last;
    }
    return (this.current = out);
  }

  /** Last-known health of every backend; waits (bounded by the probe timeout) only where none is known yet. */
  async snapshot(): Promise<Record<string, BackendHealth>> {
    const known = this.known();
    if (known) return known;
    const entries = await Promise.all(
      this.opts.backends().map(async (b): Promise<[string, BackendHealth]> => {
        const slot = this.slot(b.name);
        if (slot.last && !(slot.urgent && slot.inflight)) return [b.name, slot.last];
        return [b.name, await (slot.inflight ?? this.probe(b))];
      }),
    );
    return this.known() ?? Object.fromEntries(entries);
  }

  private tick(): void {
    for (const b of this.opts.backends()) if (!this.slot(b.name).inflight) void this.probe(b);
  }

  private slot(name: string): Slot {
    let s = this.slots.get(name);
    if (!s) this.slots.set(name, (s = { urgent: false, again: false }));
    return s;
  }

  private probe(b: Backend): Promise<BackendHealth> {
    const slot = this.slot(b.name);
    const run = async (): Promise<BackendHealth> => {
      let h: BackendHealth;
      do {
        slot.again = false;
        h = await probeOnce(b, { signal: this.abort.signal, log: this.opts.log }, this.opts.timeoutMs);
        if (!slot.last || !sameHealth(slot.last, h)) {
          slot.last = h;
          this.current = undefined;
        }
        this.opts.onResult(b.name, h);
      } while (slot.again && !this.abort.signal.aborted);
      return h;
    };
    const p = run().finally(() => {
      slot.inflight = undefined;
      slot.urgent = false;
    });
    slot.inflight = p;
    return p;
  }
}

function sameHealth(a: BackendHealth, b: BackendHealth): boolean {
  return a.ready === b.ready && a.networkReady === b.networkReady && a.reason === b.reason && a.message === b.message;
}

/** One bounded probe; a failure or timeout is reported as a backend that is down. */
export async function probeOnce(b: Backend, ctx: CallContext, timeoutMs: number): Promise<BackendHealth> {
  try {
    return await withDeadline(ctx, timeoutMs, `health of ${b.name}`, (c) => b.health(c));
  } catch (err) {
    return { ready: false, networkReady: false, reason: 'HealthCheckFailed', message: errorMessage(err) };
  }
}

/**
 * The backend as the router sees it, reporting each call that fails with Unavailable to the monitor. Only
 * promise-returning methods are watched; everything else (fields, iterators) passes through untouched.
 */
export function reportingUnavailable(backend: Backend, monitor: () => HealthMonitor | undefined): Backend {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'health') return value;
      return (...args: unknown[]): unknown => {
        const out: unknown = Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
        if (out instanceof Promise) {
          out.catch((err: unknown) => monitor()?.noteFailure(target.name, err));
        }
        return out;
      };
    },
  });
}
