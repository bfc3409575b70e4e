/**
 * What a backend factory receives, and the handler table grouped per backend. The factories themselves are listed
 * in src/backends/all.ts, the only file that knows every backend (a backend never imports another backend).
 */
import type { Backend, BackendKind, HandlerSpec } from './backend';
import type { BackendHost } from './host';
import type { Config } from '../config/types';
import type { Logger } from '../log/logger';
import type { ImageStore, SnapshotStore } from '../images/types';
import type { Metrics } from '../metrics/metrics';

/** Everything a backend factory may use; backends get no other handle on the daemon. */
export interface BackendDeps {
  readonly config: Config;
  /** The handlers this backend instance serves (at least one). */
  readonly handlers: readonly HandlerSpec[];
  readonly log: Logger;
  /** <stateDir>/backends/<kind>: durable, survives restarts. */
  readonly stateDir: string;
  /** <runDir>/<kind>: volatile. */
  readonly runDir: string;
  /** The shared OCI store (images + snapshots) used by runc, vm and rkt. */
  readonly sharedImages: ImageStore & SnapshotStore;
  readonly metrics: Metrics;
  /** Clock, record files, undo, locks and the CRI log writer, shared by every backend (see host.ts). */
  readonly host: BackendHost;
}

export type BackendFactory = (deps: BackendDeps) => Backend;

/** The handler table grouped by backend, only for enabled backends. */
export function handlersByBackend(config: Config): Map<BackendKind, HandlerSpec[]> {
  const out = new Map<BackendKind, HandlerSpec[]>();
  for (const [name, h] of Object.entries(config.handlers)) {
    if (!config.backends[h.backend]?.enabled) continue;
    const list = out.get(h.backend) ?? [];
    list.push({ name, backend: h.backend, options: h.options ?? {} });
    out.set(h.backend, list);
  }
  return out;
}
