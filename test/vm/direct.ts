/**
 * A vm backend built directly with createVmBackend(deps) — no daemon — over a temp dir, the real OCI image store
 * (fed by the local test registry) and the test CNI network of one slot. Shared by the direct test files.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Backend } from '../../src/backends/backend';
import type * as cri from '../../src/cri/types';
import { containerStatus } from '../../src/router/shape-container';
import { createVmBackend } from '../../src/backends/vm';
import { loadConfig } from '../../src/config/load';
import { OciImageStore } from '../../src/images/store';
import { Metrics } from '../../src/metrics/metrics';
import { testRegistryMap } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import * as h from './helpers';
import { createBackendHost } from '../../src/backends/default-host';
import { withLogPath } from '../helpers/create-request';

export class DirectEnv {
  readonly dir = h.tempDir();
  readonly state = path.join(this.dir, 's');
  readonly run = path.join(this.dir, 'r');
  readonly logDir = path.join(this.dir, 'logs');
  readonly vmState = path.join(this.state, 'backends', 'vm');
  readonly log = h.testLogger();
  images?: OciImageStore;
  backend?: Backend;

  constructor(readonly slot: number) {}

  /** Guest artefacts, registry, image store with `pulls` pulled. */
  async prepare(pulls: string[]): Promise<void> {
    h.ensureGuest();
    await ensureTestRegistry();
    const metrics = new Metrics({ processMetrics: false });
    const registries = testRegistryMap() as never;
    this.images = new OciImageStore({
      root: path.join(this.state, 'images'),
      registries,
      pullTimeoutSeconds: 120,
      log: this.log,
      metrics,
    });
    await this.images.start();
    for (const image of pulls) await this.images.pull(h.ctx(), { image });
  }

  /** A new backend over the same dirs (a second call models a crimux restart), started. */
  async start(): Promise<Backend> {
    const config = loadConfig({
      env: {},
      overrides: {
        stateDir: this.state,
        runDir: this.run,
        defaultHandler: 'vm',
        handlers: { vm: { backend: 'vm', options: {} } },
        'backends.vm.enabled': true,
        'backends.vm.guestDir': h.GUEST_DIR,
        'network.confDir': h.writeCniConf(this.dir, this.slot),
        'network.netnsDir': path.join(this.run, 'netns'),
      },
    });
    if (!this.images) throw new Error('prepare() first');
    this.backend = createVmBackend({
      config,
      handlers: [{ name: 'vm', backend: 'vm', options: {} }],
      log: this.log,
      stateDir: this.vmState,
      runDir: path.join(this.run, 'vm'),
      sharedImages: this.images,
      metrics: new Metrics({ processMetrics: false }),
      host: createBackendHost(),
    });
    await this.backend.start(h.ctx());
    return this.backend;
  }

  /** Create and start a container in `pod` (whose sandbox config was made by h.sandboxConfig(podName, logDir)). */
  async runContainer(o: {
    pod: string;
    podName: string;
    id: string;
    name: string;
    cmd: string[];
    image: string;
    extra?: Record<string, unknown>;
  }): Promise<void> {
    const b = this.mustBackend();
    await b.createContainer(
      h.ctx(),
      withLogPath({
        id: o.id,
        sandboxId: o.pod,
        config: h.containerConfig(o.name, o.image, o.cmd, o.extra),
        sandboxConfig: h.sandboxConfig(o.podName, this.logDir),
      }),
    );
    await b.startContainer(h.ctx(), o.id);
  }

  async status(id: string): Promise<cri.ContainerStatus> {
    return containerStatus((await this.mustBackend().containerStatus(h.ctx(), id, false)).facts);
  }

  exited(id: string): Promise<boolean> {
    return h.waitFor(`${id} exited`, async () =>
      (await this.status(id)).state === 'CONTAINER_EXITED' ? true : undefined,
    );
  }

  private mustBackend(): Backend {
    if (!this.backend) throw new Error('start() first');
    return this.backend;
  }

  /** Remove the given pods, then kill whatever qemu is left and delete everything (also after failures). */
  async cleanup(pods: string[]): Promise<void> {
    for (const id of pods) await this.backend?.removePodSandbox(h.ctx(), id).catch(() => undefined);
    await this.backend?.close();
    for (const pid of h.qemuProcesses(this.run)) process.kill(pid, 'SIGKILL');
    await this.images?.close();
    h.removeBridge(this.slot);
    h.releaseMount(path.join(this.run, 'netns'));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
