/**
 * Runtime status aggregated over the enabled backends. A backend that is down makes the node degraded, not dead:
 * RuntimeReady and NetworkReady stay true while at least one backend is ready (and has a network), and the
 * condition messages name every degraded backend; verbose info carries each backend's health.
 */
import type { Backend, BackendHealth, CallContext } from '../backends/backend';
import { errorMessage } from '../errors';
import type { RouterCore } from './core';
import { withDeadline } from './fanout';

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
  conditions: RuntimeCondition[];
  handlers: HandlerFeatures[];
  health: Record<string, BackendHealth>;
}

export class StatusRouter {
  constructor(private readonly core: RouterCore) {}

  async health(ctx: CallContext): Promise<Record<string, BackendHealth>> {
    const entries = await Promise.all(
      [...this.core.backends.values()].map(async (b): Promise<[string, BackendHealth]> => [b.name, await probe(b, ctx, this.core.settings.listTimeoutMs)]),
    );
    for (const [name, h] of entries) this.core.metrics.backendUp.set({ backend: name }, h.ready ? 1 : 0);
    return Object.fromEntries(entries);
  }

  async status(ctx: CallContext): Promise<AggregatedStatus> {
    const health = await this.health(ctx);
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
    return { conditions, handlers: this.handlerFeatures(), health };
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

async function probe(b: Backend, ctx: CallContext, timeoutMs: number): Promise<BackendHealth> {
  try {
    return await withDeadline(ctx, timeoutMs, `health of ${b.name}`, (c) => b.health(c));
  } catch (err) {
    return { ready: false, networkReady: false, reason: 'HealthCheckFailed', message: errorMessage(err) };
  }
}
