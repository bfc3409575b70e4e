/**
 * For bench/runc-lifecycle.ts: the runc backend driven in-process (createRuncBackend with the real image store),
 * behind the same `rt(method, request)` surface as the CRI client. Timing it beside the daemon separates what
 * the backend itself costs from what the daemon around it (gRPC, router, ownership store) adds per call.
 */
import path from 'node:path';
import type { Backend } from '../src/backends/backend';
import { createRuncBackend } from '../src/backends/runc';
import { loadConfig } from '../src/config/load';
import type * as cri from '../src/cri/types';
import { OciImageStore } from '../src/images/store';
import { nullLogger } from '../src/log/logger';
import { Metrics } from '../src/metrics/metrics';
import { BUSYBOX, PAUSE } from '../test/fixtures/images';
import { testRegistryMap } from '../test/helpers/daemon';
import * as e from '../test/runc/env';
import { createBackendHost } from '../src/backends/default-host';
import { withLogPath } from '../test/helpers/create-request';

type Req = Record<string, unknown>;
let seq = 0;
const newId = (): string => `${process.pid.toString(16)}${(seq++).toString(16).padStart(8, '0')}`.padEnd(64, 'b');

export interface DirectBackend {
  rt(method: string, req: Req): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startDirectBackend(dir: string, slot: number, cgroupRoot: string): Promise<DirectBackend> {
  const log = nullLogger();
  const ctx = () => e.ctx(log, 120_000);
  const config = loadConfig({
    env: {},
    overrides: {
      stateDir: path.join(dir, 'state'),
      runDir: path.join(dir, 'run'),
      handlers: { runc: { backend: 'runc', options: {} } },
      'backends.runc.enabled': true,
      'backends.runc.cgroupParent': cgroupRoot,
      'network.confDir': await e.writeCniConf(dir, slot),
      'network.netnsDir': path.join(dir, 'run', 'netns'),
      'images.registries': testRegistryMap(),
      'security.logRoot': '',
    },
  });
  const metrics = new Metrics({ processMetrics: false });
  const images = new OciImageStore({
    root: path.join(dir, 'state', 'images'),
    registries: config.images.registries,
    pullTimeoutSeconds: 120,
    log,
    metrics,
  });
  await images.start();
  for (const image of [BUSYBOX.ref, PAUSE.ref]) await images.pull(ctx(), { image });
  const backend: Backend = createRuncBackend({
    config,
    handlers: [{ name: 'runc', backend: 'runc', options: {} }],
    log,
    stateDir: path.join(dir, 'state', 'backends', 'runc'),
    runDir: path.join(dir, 'run', 'runc'),
    sharedImages: images,
    metrics,
    host: createBackendHost(),
  });
  await backend.start(ctx());
  const sandboxConfig = (c: Req): cri.PodSandboxConfig => {
    const md = c.metadata as { name: string };
    const base = e.sandboxConfig(md.name, '');
    return {
      ...base,
      metadata: { ...base.metadata!, ...(c.metadata as object) },
      log_directory: c.log_directory as string,
      linux: { ...base.linux!, cgroup_parent: (c.linux as { cgroup_parent: string }).cgroup_parent },
    };
  };
  const configs = new Map<string, cri.PodSandboxConfig>();
  return {
    async rt(method, req) {
      switch (method) {
        case 'RunPodSandbox': {
          const id = newId();
          const config = sandboxConfig(req.config as Req);
          configs.set(id, config);
          await backend.runPodSandbox(ctx(), { id, handler: { name: 'runc', backend: 'runc', options: {} }, config });
          return { pod_sandbox_id: id };
        }
        case 'CreateContainer': {
          const id = newId();
          const c = req.config as { command: string[]; log_path: string };
          const sandboxId = req.pod_sandbox_id as string;
          const config = e.containerConfig('app', BUSYBOX.ref, c.command, { log_path: c.log_path });
          await backend.createContainer(
            ctx(),
            withLogPath({ id, sandboxId, config, sandboxConfig: configs.get(sandboxId)! }),
          );
          return { container_id: id };
        }
        case 'StartContainer':
          await backend.startContainer(ctx(), req.container_id as string);
          return {};
        case 'ExecSync': {
          const r = await backend.execSync(
            ctx(),
            req.container_id as string,
            req.cmd as string[],
            req.timeout as number,
          );
          return { exit_code: r.exitCode };
        }
        case 'ContainerStatus':
          return (await backend.containerStatus(ctx(), req.container_id as string, false)) as unknown as Req;
        case 'StopContainer':
          await backend.stopContainer(ctx(), req.container_id as string, req.timeout as number);
          return {};
        case 'RemoveContainer':
          await backend.removeContainer(ctx(), req.container_id as string);
          return {};
        case 'StopPodSandbox':
          await backend.stopPodSandbox(ctx(), req.pod_sandbox_id as string);
          return {};
        case 'RemovePodSandbox':
          configs.delete(req.pod_sandbox_id as string);
          await backend.removePodSandbox(ctx(), req.pod_sandbox_id as string);
          return {};
        default:
          throw new Error(`direct backend: ${method} is not part of the benchmark`);
      }
    },
    async close() {
      await backend.close();
      await images.close();
      await e.cleanupNetwork(path.join(dir, 'run', 'netns'), slot);
    },
  };
}
