/**
 * Shared setup of the docker backend tests: a temp dir with config (registry replacement to the local test
 * registry, a CNI conflist on the docker tests' own bridge and subnet), BackendDeps built by hand, CRI request
 * builders, and small host checks. Not a test file itself.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { Metrics } from '../../src/metrics/metrics';
import { createLogger, nullLogger, type Logger } from '../../src/log/logger';
import type { BackendDeps } from '../../src/backends/registry';
import type { CallContext, HandlerSpec } from '../../src/backends/backend';
import type * as cri from '../../src/cri/types';
import { DOCKER_SOCKET } from '../helpers/dockerd';
import { removeEgressGuard } from '../../src/network';
import { NotFoundError } from '../../src/errors';
import { createBackendHost } from '../../src/backends/default-host';

export const run = promisify(execFile);
export const HANDLER = 'docker';

/** Each test file takes its own slot: own bridge and subnet, so files running in parallel never share a network. */
export function netSlot(slot: number): { bridge: string; subnet: string } {
  return { bridge: `crimuxd${slot}`, subnet: `10.89.${20 + slot}.0/24` };
}

export interface TestEnv {
  readonly dir: string;
  readonly config: Config;
  readonly logDir: string;
  readonly netnsDir: string;
  readonly confDir: string;
  readonly subnet: string;
  cleanup(): Promise<void>;
}

/** Writes the CNI conflist of a slot (own bridge, subnet, IPAM dir) into <dir>/cni; returns the conf dir. */
export async function writeCniConf(dir: string, slot: number): Promise<string> {
  const { bridge, subnet } = netSlot(slot);
  const confDir = path.join(dir, 'cni');
  await fs.mkdir(confDir, { recursive: true });
  await fs.writeFile(
    path.join(confDir, '10-docker-test.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'crimux-docker-test',
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: path.join(dir, 'ipam') },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: false },
      ],
    }),
  );
  return confDir;
}

/** Releases what a slot's pods leave on the host by design (the netns dir mount, the bridge, the egress guard). */
export async function cleanupNetwork(netnsDir: string, slot: number): Promise<void> {
  const { bridge, subnet } = netSlot(slot);
  // The netns dir is a self bind mount (shared), like /run/netns; release it before deleting the tree.
  await run('umount', ['--lazy', netnsDir]).catch(() => undefined);
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
  await removeEgressGuard(subnet).catch(() => undefined);
}

/** Config for a crimux whose docker handler uses the local registry and the slot's test CNI network. */
export async function makeEnv(
  registryPort: number,
  slot: number,
  extra: Record<string, unknown> = {},
): Promise<TestEnv> {
  const { subnet } = netSlot(slot);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-docker-'));
  const confDir = await writeCniConf(dir, slot);
  const netnsDir = path.join(dir, 'netns');
  const logDir = path.join(dir, 'pods');
  const endpoint = { endpoints: [{ url: `http://127.0.0.1:${registryPort}` }] };
  const config = loadConfig({
    env: {},
    overrides: {
      stateDir: path.join(dir, 'state'),
      runDir: path.join(dir, 'run'),
      'socket.path': path.join(dir, 'crimux.sock'),
      'metrics.address': '',
      handlers: { [HANDLER]: { backend: 'docker', options: { dockerRuntime: 'runc' } } },
      defaultHandler: HANDLER,
      'routing.osContainerHandler': HANDLER,
      'routing.hostNamespaceHandler': HANDLER,
      'backends.docker.enabled': true,
      'backends.docker.socket': DOCKER_SOCKET,
      'images.registries': { 'docker.io': endpoint, 'registry.k8s.io': endpoint },
      'network.confDir': confDir,
      'network.netnsDir': netnsDir,
      'security.logRoot': '',
      ...extra,
    },
  });
  return {
    dir,
    config,
    logDir,
    netnsDir,
    confDir,
    subnet,
    cleanup: async () => {
      await cleanupNetwork(netnsDir, slot);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export function testLogger(): Logger {
  return process.env.CRIMUX_TEST_LOG ? createLogger({ level: 'debug' }) : nullLogger();
}

export function handlerSpec(config: Config): HandlerSpec {
  const h = config.handlers[HANDLER];
  return { name: HANDLER, backend: 'docker', options: h?.options ?? {} };
}

export function deps(env: TestEnv, log: Logger): BackendDeps {
  return {
    config: env.config,
    handlers: [handlerSpec(env.config)],
    log,
    stateDir: path.join(env.config.stateDir, 'backends', 'docker'),
    runDir: path.join(env.config.runDir, 'docker'),
    // The docker backend keeps its own store and may only read images out of the shared one (here: empty): export
    // them, and look one up for its unpacked /etc/passwd and /etc/group.
    sharedImages: new Proxy(
      {},
      {
        get: (_t, prop) => {
          if (prop === 'exportImage') return () => Promise.resolve(undefined);
          if (prop === 'resolve') return () => Promise.reject(new NotFoundError('not in the shared store'));
          throw new Error(`docker backend used the shared image store (${String(prop)})`);
        },
      },
    ) as never,
    metrics: new Metrics({ processMetrics: false }),
    host: createBackendHost(),
  };
}

export function ctx(log: Logger, timeoutMs = 120_000): CallContext {
  return { signal: AbortSignal.timeout(timeoutMs), log };
}

let seq = 0;
/** A unique, valid crimux-style ID (64 hex chars like the router allocates). */
export function newId(): string {
  const rand = Array.from({ length: 8 }, () =>
    Math.floor(Math.random() * 0x100000000)
      .toString(16)
      .padStart(8, '0'),
  );
  seq++;
  return rand.join('');
}

export function sandboxConfig(
  env: TestEnv,
  name: string,
  o: {
    hostNetwork?: boolean;
    annotations?: Record<string, string>;
    ports?: cri.PodSandboxConfig['port_mappings'];
  } = {},
): cri.PodSandboxConfig {
  const uid = `uid-${name}-${seq}`;
  return {
    metadata: { name, namespace: 'default', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(env.logDir, `default_${name}_${uid}`),
    dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
    port_mappings: o.ports ?? [],
    labels: { app: name, 'io.kubernetes.pod.name': name },
    annotations: { owner: 'docker-test', ...(o.annotations ?? {}) },
    linux: {
      cgroup_parent: '',
      security_context: {
        namespace_options: {
          network: o.hostNetwork ? 'NODE' : 'POD',
          pid: 'CONTAINER',
          ipc: 'POD',
          target_id: '',
          userns_options: null,
        },
        selinux_options: null,
        run_as_user: null,
        readonly_rootfs: false,
        supplemental_groups: [],
        privileged: false,
        seccomp_profile_path: '',
        run_as_group: null,
        seccomp: null,
        apparmor: null,
        supplemental_groups_policy: 'Merge',
      },
      sysctls: {},
      overhead: null,
      resources: null,
    },
    windows: null,
  };
}

export function containerConfig(
  name: string,
  image: string,
  o: Partial<cri.ContainerConfig> = {},
): cri.ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image, annotations: {}, user_specified_image: image, runtime_handler: '', image_ref: '' },
    command: [],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: { 'io.kubernetes.container.name': name },
    annotations: { note: name },
    log_path: `${name}/0.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...o,
  };
}

/** Polls `fn` until it returns a truthy value (bounded). */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/** `docker ps -a` names of containers carrying a crimux label value. */
export async function dockerNames(filter: string): Promise<string[]> {
  const { stdout } = await run('docker', [
    '-H',
    `unix://${DOCKER_SOCKET}`,
    'ps',
    '-a',
    '--filter',
    `label=${filter}`,
    '--format',
    '{{.Names}}',
  ]);
  return stdout.split('\n').filter(Boolean);
}
