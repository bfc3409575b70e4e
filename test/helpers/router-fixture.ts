/** An in-process Router over a real SQLite store and FakeBackends, for unit tests of routing logic. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Backend, CallContext } from '../../src/backends/backend';
import { loadConfig } from '../../src/config/load';
import { nullLogger } from '../../src/log/logger';
import { Metrics } from '../../src/metrics/metrics';
import { RouterCore } from '../../src/router/core';
import { Router, routingFromConfig } from '../../src/router/router';
import { SqliteOwnershipStore } from '../../src/state/sqlite-store';
import { FakeBackend } from './fake-backend';
import type * as cri from '../../src/cri/types';

export interface RouterFixture {
  router: Router;
  store: SqliteOwnershipStore;
  metrics: Metrics;
  backends: Map<string, FakeBackend>;
  ctx: (timeoutMs?: number) => CallContext;
  dir: string;
  close(): void;
}

export function routerFixture(
  kinds: FakeBackend[] = [new FakeBackend('runc'), new FakeBackend('docker')],
  settings: { keepLists?: boolean; statsCacheMs?: number; podNetwork?: { updatePodCidr(cidr: string): void } } = {},
): RouterFixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-router-'));
  const config = loadConfig({
    env: {},
    overrides: {
      stateDir: dir,
      handlers: Object.fromEntries(kinds.map((b) => [b.name, { backend: b.kind }])),
      'backends.runc.enabled': true,
      'backends.docker.enabled': true,
      'lists.backendTimeoutMs': 300,
    },
  });
  const store = new SqliteOwnershipStore({ dir });
  const metrics = new Metrics({ processMetrics: false });
  const backends = new Map(kinds.map((b) => [b.name, b]));
  const { table, handlers } = routingFromConfig(config, backends as Map<string, Backend>);
  const core = new RouterCore(
    store,
    backends,
    metrics,
    nullLogger(),
    table,
    handlers,
    {
      listTimeoutMs: 300,
      createTimeoutMs: 10_000,
      undoTimeoutMs: 1000,
      validation: { logRoot: '', mountSourceDenyList: ['/var/lib/crimux'] },
      ...settings,
    },
    new AbortController().signal,
  );
  return {
    router: new Router(core),
    store,
    metrics,
    backends,
    ctx: (timeoutMs = 5000) => ({ signal: AbortSignal.timeout(timeoutMs), log: nullLogger() }),
    dir,
    close: () => {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function podConfig(name: string, over: Record<string, unknown> = {}): cri.PodSandboxConfig {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: '',
    log_directory: '',
    dns_config: null,
    port_mappings: [],
    labels: { app: name },
    annotations: {},
    linux: null,
    windows: null,
    ...over,
  } as unknown as cri.PodSandboxConfig;
}

export function containerConfig(name: string, over: Record<string, unknown> = {}): cri.ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image: 'busybox', annotations: {}, user_specified_image: '', runtime_handler: '' },
    command: [],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: { c: name },
    annotations: {},
    log_path: '',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...over,
  } as unknown as cri.ContainerConfig;
}
