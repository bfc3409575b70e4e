/**
 * Setup of the tests that drive the runc backend directly (not a test file): a temp dir, a config on the slot's
 * private CNI network and the local registry, the real OCI image store with busybox pulled, and a factory for
 * backend instances over the same dirs (a second instance is what a crimux restart sees).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Backend, HandlerSpec } from '../../src/backends/backend';
import { createRuncBackend } from '../../src/backends/runc';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { OciImageStore } from '../../src/images/store';
import type { Logger } from '../../src/log/logger';
import { Metrics } from '../../src/metrics/metrics';
import { BUSYBOX } from '../fixtures/images';
import { testRegistryMap } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import * as e from './env';
import { createBackendHost } from '../../src/backends/default-host';

export interface DirectEnv {
  readonly dir: string;
  readonly logDir: string;
  readonly config: Config;
  readonly images: OciImageStore;
  /** The configured backends.runc.cgroupParent (each test file its own). */
  readonly cgroupRoot: string;
  readonly stateDir: string;
  backend(handlers?: HandlerSpec[]): Backend;
  cleanup(): Promise<void>;
}

export const RUNC: HandlerSpec = { name: 'runc', backend: 'runc', options: {} };

export async function directEnv(slot: number, log: Logger): Promise<DirectEnv> {
  await ensureTestRegistry();
  const dir = await e.tempDir('crimux-runc-');
  const cgroupRoot = `/crimux-test-${process.pid}-${slot}`;
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
    root: path.join(config.stateDir, 'images'),
    registries: config.images.registries,
    pullTimeoutSeconds: 120,
    log,
    metrics,
    sandboxImage: config.images.sandboxImage,
  });
  await images.start();
  await images.pull(e.ctx(log), { image: BUSYBOX.ref });
  return {
    dir,
    logDir: path.join(dir, 'pods'),
    config,
    images,
    cgroupRoot,
    stateDir: path.join(config.stateDir, 'backends', 'runc'),
    backend: (handlers = [RUNC]) =>
      createRuncBackend({
        config,
        handlers,
        log,
        stateDir: path.join(config.stateDir, 'backends', 'runc'),
        runDir: path.join(config.runDir, 'runc'),
        sharedImages: images,
        metrics,
        host: createBackendHost(),
      }),
    async cleanup() {
      await images.close();
      await e.cleanupNetwork(path.join(dir, 'run', 'netns'), slot);
      await removeCgroupV1(cgroupRoot);
      for (const p of e.mountsMentioning(dir).reverse()) await e.run('umount', ['--lazy', p]).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
