/**
 * Fast start: once the background template (a booted VM saved with migrate-to-file) exists, pods start as clones
 * with `-incoming`. A clone must still get its own MAC, IP, hostname and clock, and several clones must run side by
 * side. Driven directly through createVmBackend(deps).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend } from '../../src/backends/backend';
import { createVmBackend } from '../../src/backends/vm';
import { loadConfig } from '../../src/config/load';
import { OciImageStore } from '../../src/images/store';
import { Metrics } from '../../src/metrics/metrics';
import { BUSYBOX } from '../fixtures/images';
import { testRegistryMap } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import * as h from './helpers';

const SLOT = 2;

const dir = h.tempDir();
const state = path.join(dir, 's');
const run = path.join(dir, 'r');
const logDir = path.join(dir, 'logs');
const log = h.testLogger();
const vmState = path.join(state, 'backends', 'vm');
let images: OciImageStore;
let backend: Backend;
const handler = { name: 'vm', backend: 'vm' as const, options: {} };

describe('vm template clones', { timeout: 900_000 }, () => {
  before(async () => {
    h.ensureGuest();
    await ensureTestRegistry();
    images = new OciImageStore({ root: path.join(state, 'images'), registries: testRegistryMap() as never, pullTimeoutSeconds: 120, log, metrics: new Metrics({ processMetrics: false }) });
    await images.start();
    await images.pull(h.ctx(), { image: BUSYBOX.ref });
    const config = loadConfig({
      env: {},
      overrides: {
        stateDir: state, runDir: run, defaultHandler: 'vm', handlers: { vm: { backend: 'vm', options: {} } },
        'backends.vm.enabled': true, 'backends.vm.guestDir': h.GUEST_DIR,
        'network.confDir': h.writeCniConf(dir, SLOT), 'network.netnsDir': path.join(run, 'netns'),
      },
    });
    backend = createVmBackend({
      config, handlers: [handler], log, stateDir: vmState, runDir: path.join(run, 'vm'),
      sharedImages: images, metrics: new Metrics({ processMetrics: false }),
    });
    await backend.start(h.ctx());
  });

  after(async () => {
    for (const id of ['1', '2']) await backend?.removePodSandbox(h.ctx(), id.repeat(64)).catch(() => undefined);
    await backend?.close();
    for (const pid of h.qemuProcesses(run)) process.kill(pid, 'SIGKILL');
    await images?.close();
    h.removeBridge(SLOT);
    h.releaseMount(path.join(run, 'netns'));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('builds a template in the background at start', async () => {
    const file = await h.waitFor('template state file', () => {
      const root = path.join(vmState, 'templates');
      const found = fs.existsSync(root) ? fs.readdirSync(root).map((k) => path.join(root, k, 'state')).find((f) => fs.existsSync(f)) : undefined;
      return found;
    }, 300_000);
    // Device state only (RAM stays in the template's RAM file, mapped copy-on-write by every clone).
    assert.ok(fs.statSync(file).size < 4 * 1024 * 1024);
    assert.ok(fs.existsSync(path.join(path.dirname(file), 'mem')));
  });

  it('starts pods as clones, each with its own identity and address', async () => {
    const ips: string[] = [];
    for (const [id, name] of [['1', 'clone-one'], ['2', 'clone-two']] as const) {
      const pod = id.repeat(64);
      await backend.runPodSandbox(h.ctx(), { id: pod, handler, config: h.sandboxConfig(name, logDir) });
      const st = await backend.podSandboxStatus(h.ctx(), pod, true);
      assert.equal(st.status.state, 'SANDBOX_READY');
      assert.equal((JSON.parse(st.info.info ?? '{}') as { vm: { cloned: boolean } }).vm.cloned, true);
      ips.push(String(st.status.network?.ip));
      const cid = `c${id}`.padEnd(64, id);
      await backend.createContainer(h.ctx(), { id: cid, sandboxId: pod, config: h.containerConfig('probe', BUSYBOX.ref, ['sleep', '1000']), sandboxConfig: h.sandboxConfig(name, logDir) });
      await backend.startContainer(h.ctx(), cid);
      const r = await backend.execSync(h.ctx(), cid, ['sh', '-c', 'hostname; date +%s; cat /sys/class/net/eth0/address; ip -4 addr show eth0'], 30);
      const [hostname, epoch, mac, ...addr] = r.stdout.toString().trim().split('\n');
      assert.equal(hostname, name);
      assert.ok(Math.abs(Number(epoch) - Date.now() / 1000) < 30, `guest clock ${epoch}`);
      assert.notEqual(mac, '02:43:52:4d:58:01', 'the template MAC was replaced');
      assert.match(addr.join('\n'), new RegExp(`inet ${String(st.status.network?.ip).replace(/\./g, '\\.')}/`));
    }
    assert.notEqual(ips[0], ips[1]);
  });
});
