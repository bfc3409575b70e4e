/**
 * Runtime status aggregated over the enabled backends. A backend that is down makes the node degraded, not dead:
 * RuntimeReady and NetworkReady stay true while at least one backend is ready (and has a network), and the
 * condition messages name every degraded backend; verbose info carries each backend's health. Once the daemon
 * has started the health monitor, health is the last-known result of its background probes, not a probe per call.
 */
import type { BackendHealth, CallContext } from '../backends/backend';
import type { RouterCore } from './core';
import { HealthMonitor, probeOnce } from './health-monitor';

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface HandlerFeatures {
  name: string;
  features: { recursive_read_only_mounts: boolean; user_namespaces: boolean };
}

export interface AggregatedStatus {
  /** StatusResponse.status as it goes out: one object per aggregate, so its encoding is kept with it. */
  status: { conditions: RuntimeCondition[] };
  handlers: HandlerFeatures[];
  health: Record<string, BackendHealth>;
}

export class StatusRouter {
  readonly monitor: HealthMonitor;

  constructor(private readonly core: RouterCore) {
    this.monitor = new HealthMonitor({
      backends: () => [...core.backends.values()],
      log: core.log.child({ component: 'health' }),
      timeoutMs: core.settings.listTimeoutMs,
      onResult: (name, h) => core.metrics.backendUp.set({ backend: name }, h.ready ? 1 : 0),
    });
  }

  /** Per backend health: last-known once the monitor runs; probed now (as a one-off) before that. */
  async health(ctx: CallContext): Promise<Record<string, BackendHealth>> {
    if (this.monitor.started) return this.monitor.snapshot();
    const entries = await Promise.all(
      [...this.core.backends.values()].map(async (b): Promise<[string, BackendHealth]> => [
        b.name,
        await probeOnce(b, ctx, this.core.settings.listTimeoutMs),
      ]),
    );
    for (const [name, h] of entries) this.core.metrics.backendUp.set({ backend: name }, h.ready ? 1 : 0);
    return Object.fromEntries(entries);
  }

  /**
   * The last answer and what it was made from. Status is polled (the kubelet every few seconds, probes and
   * tools more often) and health changes rarely: while the monitor's last-known health is the same object (it
   * is until a backend's health changes) and the routing table the same, the same answer is returned, and its
   * encoding is then kept too (src/cri/reply-encoding.ts).
   */
  private memo: { table: unknown; health: Record<string, BackendHealth>; result: AggregatedStatus } | undefined;

  async status(ctx: CallContext): Promise<AggregatedStatus> {
    const health = (this.monitor.started && this.monitor.known()) || (await this.health(ctx));
    const m = this.memo;
    if (m?.health === health && m.table === this.core.table) return m.result;
    const result = this.aggregate(health);
    this.memo = { table: this.core.table, health, result };
    return result;
  }

  private aggregate(health: Record<string, BackendHealth>): AggregatedStatus {
    const all = Object.entries(health);
    const down = all.filter(([, h]) => !h.ready);
    const netDown = all.filter(([, h]) => h.ready && !h.networkReady);
    const ready = all.length > 0 && down.length < all.length;
    const netReady = all.some(([, h]) => h.ready && h.networkReady);
    const describe = (list: [string, BackendHealth][]): string =>
      list.map(([n, h]) => `${n}: ${h.reason ?? 'NotReady'}${h.message ? ` (${h.message})` : ''}`).join('; ');
    const conditions: RuntimeCondition[] = [
      {
        type: 'RuntimeReady',
        status: ready,
        reason: ready ? (down.length ? 'BackendsDegraded' : '') : all.length ? 'AllBackendsDown' : 'NoBackendEnabled',
        message: down.length ? `degraded backends: ${describe(down)}` : '',
      },
      {
        type: 'NetworkReady',
        status: netReady,
        reason: netReady ? (netDown.length ? 'BackendNetworksDegraded' : '') : 'NetworkPluginNotReady',
        message: netDown.length ? `backends without a usable network: ${describe(netDown)}` : '',
      },
    ];
    return { status: { conditions }, handlers: this.handlerFeatures(), health };
  }

  /** One entry per enabled handler, plus "" for the default handler (what pods without a RuntimeClass get). */
  handlerFeatures(): HandlerFeatures[] {
    const out: HandlerFeatures[] = [];
    const add = (name: string, handler: string): void => {
      const h = this.core.table.handlers.get(handler);
      if (!h?.enabled) return;
      out.push({
        name,
        features: {
          recursive_read_only_mounts: h.capabilities.recursiveReadOnlyMounts,
          user_namespaces: h.capabilities.userNamespaces,
        },
      });
    };
    add('', this.core.table.defaultHandler);
    for (const name of this.core.table.handlers.keys()) add(name, name);
    return out;
  }
}
