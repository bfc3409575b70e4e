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
import { containerStatus } from '../../src/router/shape-container';
import { BUSYBOX } from '../fixtures/images';
import { DirectEnv } from './direct';
import * as h from './helpers';
import { sandboxStatus } from '../../src/router/shape-sandbox';
import { withLogPath } from '../helpers/create-request';

const SLOT = 2;
const env = new DirectEnv(SLOT);
const { logDir, vmState } = env;
let backend: Backend;
const handler = { name: 'vm', backend: 'vm' as const, options: {} };

describe('vm template clones', { timeout: 900_000 }, () => {
  before(async () => {
    await env.prepare([BUSYBOX.ref]);
    backend = await env.start();
  });

  after(() => env.cleanup(['1'.repeat(64), '2'.repeat(64)]));

  it('builds a template in the background at start', async () => {
    const file = await h.waitFor(
      'template state file',
      () => {
        const root = path.join(vmState, 'templates');
        const found = fs.existsSync(root)
          ? fs
              .readdirSync(root)
              .map((k) => path.join(root, k, 'state'))
              .find((f) => fs.existsSync(f))
          : undefined;
        return found;
      },
      300_000,
    );
    // Device state only (RAM stays in the template's RAM file, mapped copy-on-write by every clone).
    assert.ok(fs.statSync(file).size < 4 * 1024 * 1024);
    assert.ok(fs.existsSync(path.join(path.dirname(file), 'mem')));
  });

  it('starts pods as clones, each with its own identity and address', async () => {
    const ips: string[] = [];
    for (const [id, name] of [
      ['1', 'clone-one'],
      ['2', 'clone-two'],
    ] as const) {
      const pod = id.repeat(64);
      await backend.runPodSandbox(h.ctx(), { id: pod, handler, config: h.sandboxConfig(name, logDir) });
      const st = await backend.podSandboxStatus(h.ctx(), pod, true);
      assert.equal(sandboxStatus(st.facts).state, 'SANDBOX_READY');
      assert.equal((JSON.parse(st.info.info ?? '{}') as { vm: { cloned: boolean } }).vm.cloned, true);
      ips.push(String(sandboxStatus(st.facts).network?.ip));
      const cid = `c${id}`.padEnd(64, id);
      await backend.createContainer(
        h.ctx(),
        withLogPath({
          id: cid,
          sandboxId: pod,
          config: h.containerConfig('probe', BUSYBOX.ref, ['sleep', '1000']),
          sandboxConfig: h.sandboxConfig(name, logDir),
        }),
      );
      await backend.startContainer(h.ctx(), cid);
      const r = await backend.execSync(
        h.ctx(),
        cid,
        ['sh', '-c', 'hostname; date +%s; cat /sys/class/net/eth0/address; ip -4 addr show eth0'],
        30,
      );
      const [hostname, epoch, mac, ...addr] = r.stdout.toString().trim().split('\n');
      assert.equal(hostname, name);
      assert.ok(Math.abs(Number(epoch) - Date.now() / 1000) < 30, `guest clock ${epoch}`);
      assert.notEqual(mac, '02:43:52:4d:58:01', 'the template MAC was replaced');
      assert.match(
        addr.join('\n'),
        new RegExp(`inet ${String(sandboxStatus(st.facts).network?.ip).replace(/\./g, '\\.')}/`),
      );
    }
    assert.notEqual(ips[0], ips[1]);
  });

  it('reports a VM that died: pod NOTREADY, its containers exited; stop and remove still succeed', async () => {
    const pod = '2'.repeat(64);
    const [pid] = h.qemuProcesses(path.join(env.run, 'vm', pod.slice(0, 16)));
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    const st = await h.waitFor('pod NOTREADY', async () => {
      const s = await backend.podSandboxStatus(h.ctx(), pod, false);
      return sandboxStatus(s.facts).state === 'SANDBOX_NOTREADY' ? s : undefined;
    });
    const c = st.containers?.map(containerStatus)[0];
    assert.equal(c?.state, 'CONTAINER_EXITED');
    assert.equal(c?.exit_code, 255);
    assert.match(String(c?.message), /VM of the pod is gone/);
    await backend.stopPodSandbox(h.ctx(), pod);
    await backend.removePodSandbox(h.ctx(), pod);
    // The other clone is unaffected.
    assert.equal(
      sandboxStatus((await backend.podSandboxStatus(h.ctx(), '1'.repeat(64), false)).facts).state,
      'SANDBOX_READY',
    );
  });
});
