/**
 * The router: one object per daemon that the CRI glue talks to. It holds the shared core and the per-concern
 * routers, and swaps the routing table on reload (SIGHUP) — new pods use the new table, existing ones keep the
 * backend their record names.
 */
import type {
  Backend,
  BackendCapabilities,
  BackendKind,
  CallContext,
  HandlerSpec,
  RuntimeConfigUpdate,
} from '../backends/backend';
import type { Config } from '../config/types';
import { ContainerRouter } from './containers';
import { RouterCore } from './core';
import type { Subscription } from './events';
import { ImageRouter } from './images';
import { ListRouter } from './lists';
import { SandboxRouter } from './sandboxes';
import { StatsRouter } from './stats';
import { StatusRouter } from './status';
import { NO_CAPABILITIES, buildRoutingTable } from './table';

export class Router {
  readonly sandboxes: SandboxRouter;
  readonly containers: ContainerRouter;
  readonly lists: ListRouter;
  readonly stats: StatsRouter;
  readonly status: StatusRouter;
  readonly images: ImageRouter;

  constructor(readonly core: RouterCore) {
    this.sandboxes = new SandboxRouter(core);
    this.containers = new ContainerRouter(core);
    this.lists = new ListRouter(core);
    this.stats = new StatsRouter(core);
    this.status = new StatusRouter(core);
    this.images = new ImageRouter(core);
  }

  /** The routing table as verbose Status shows it: how the next pod would be routed. */
  routingInfo(): {
    defaultHandler: string;
    handlers: { name: string; backend: string; enabled: boolean }[];
    rules: unknown;
  } {
    const t = this.core.table;
    return {
      defaultHandler: t.defaultHandler,
      handlers: [...t.handlers.values()].map((h) => ({ name: h.name, backend: h.backend, enabled: h.enabled })),
      rules: t.rules,
    };
  }

  /**
   * UpdateRuntimeConfig (the node's pod CIDR): the shared pod network takes it, then every backend that keeps a
   * network configuration of its own; the first failure is the call's.
   */
  async updateRuntimeConfig(ctx: CallContext, update: RuntimeConfigUpdate): Promise<void> {
    this.core.settings.podNetwork?.updatePodCidr(update.podCidr);
    const results = await Promise.allSettled(
      [...this.core.backends.values()].map(async (b) => b.updateRuntimeConfig?.(ctx, update)),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** A GetContainerEvents subscriber (bounded queue; close it when the stream ends). */
  subscribeEvents(): Subscription {
    return this.core.events.subscribe();
  }

  /** Swap the handler table and routing rules (SIGHUP). Backends themselves are not restarted. */
  reload(config: Config): void {
    const { table, handlers } = routingFromConfig(config, this.core.backends);
    this.core.table = table;
    this.core.handlers = handlers;
  }
}

/** The routing table and handler specs for a config, given the running backends (by kind name). */
export function routingFromConfig(
  config: Config,
  backends: ReadonlyMap<string, Backend>,
): { table: ReturnType<typeof buildRoutingTable>; handlers: Map<string, HandlerSpec> } {
  const caps = (kind: BackendKind): BackendCapabilities => backends.get(kind)?.capabilities ?? NO_CAPABILITIES;
  const table = buildRoutingTable(config, caps, (kind) => backends.has(kind));
  const handlers = new Map<string, HandlerSpec>();
  for (const [name, h] of Object.entries(config.handlers)) {
    handlers.set(name, { name, backend: h.backend, options: h.options ?? {} });
  }
  return { table, handlers };
}
