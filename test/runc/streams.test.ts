/**
 * The runc backend driven directly: Exec with streams (stdin in, stdout and exit code out; TTY exec is in
 * attach.test.ts), PortForward to a listener bound only to the pod's loopback, and a RunPodSandbox that fails at
 * its last step (the runtime cannot create the pause container) undoing every earlier step: netns, CNI
 * reservation, snapshot, shm, cgroup, files.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend } from '../../src/backends/backend';
import { BUSYBOX } from '../fixtures/images';
import { directEnv, RUNC, type DirectEnv } from './direct';
import * as e from './env';
import { withLogPath } from '../helpers/create-request';

const SLOT = 4;
const log = e.testLogger();
const ctx = (ms?: number) => e.ctx(log, ms);
const hex = (c: string) => c.repeat(64).slice(0, 64);
const POD = hex('b1');
const SH = hex('d1');
const WEB = hex('d2');
const FAIL = hex('f0');

describe('runc backend (direct): exec streams, port forward, undo', { timeout: 600_000 }, () => {
  let env: DirectEnv;
  let backend: Backend;

  const run = async (id: string, name: string, cmd: string[]) => {
    await backend.createContainer(
      ctx(),
      withLogPath({
        id,
        sandboxId: POD,
        config: e.containerConfig(name, BUSYBOX.ref, cmd),
        sandboxConfig: e.sandboxConfig('streams', env.logDir),
      }),
    );
    await backend.startContainer(ctx(), id);
  };

  before(async () => {
    env = await directEnv(SLOT, log);
    backend = env.backend();
    await backend.start(ctx());
    await backend.runPodSandbox(ctx(), { id: POD, handler: RUNC, config: e.sandboxConfig('streams', env.logDir) });
  });

  after(async () => {
    await backend?.removePodSandbox(ctx(), POD).catch(() => undefined);
    await backend?.close();
    await env?.cleanup();
  });

  it('execs with streams: stdin in, stdout and the exit code out', async () => {
    await run(SH, 'sh', ['sleep', '1000']);
    const streams = await backend.exec(ctx(), SH, ['sh', '-c', 'cat; exit 6'], {
      tty: false,
      stdin: true,
      stdout: true,
      stderr: true,
    });
    let out = '';
    streams.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    streams.stderr?.resume();
    streams.stdin?.end('piped through\n');
    assert.deepEqual(await streams.wait(), { exitCode: 6 });
    assert.equal(out, 'piped through\n');
  });

  it('forwards a port bound only to the pod loopback', async () => {
    await run(WEB, 'web', [
      'sh',
      '-c',
      'mkdir -p /www && echo hello-pf > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www',
    ]);
    const body = await e.waitFor(
      'port forward',
      async () => {
        try {
          const conn = await backend.portForward(ctx(), POD, 8080);
          let text = '';
          conn.on('data', (b: Buffer) => (text += b.toString()));
          conn.end('GET / HTTP/1.0\r\n\r\n');
          await new Promise((r) => conn.on('close', r));
          return text.includes('hello-pf') ? text : undefined;
        } catch {
          return undefined; // httpd not listening yet
        }
      },
      20_000,
    );
    assert.match(body, /200 OK/);
  });

  it('undoes every step of a RunPodSandbox whose pause container cannot be created', async () => {
    const broken = env.backend([
      {
        name: 'broken',
        backend: 'runc',
        options: { runtimePath: '/bin/false', runtimeRoot: path.join(env.dir, 'broken-root') },
      },
    ]);
    await assert.rejects(
      broken.runPodSandbox(ctx(), {
        id: FAIL,
        handler: { name: 'broken', backend: 'runc', options: {} },
        config: e.sandboxConfig('broken', env.logDir),
      }),
    );
    assert.equal(existsSync(path.join(env.config.network.netnsDir, FAIL)), false, 'netns');
    assert.equal(existsSync(path.join(env.stateDir, 'sandboxes', FAIL)), false, 'sandbox dir');
    assert.equal((await env.images.keys()).includes(FAIL), false, 'snapshot');
    assert.deepEqual(e.mountsMentioning(FAIL), [], 'mounts');
    assert.deepEqual(e.processesMentioning(FAIL), [], 'processes');
    assert.deepEqual(e.cgroupsMentioning(env.cgroupRoot, FAIL), [], 'cgroups');
    // The IP went back to the pool: host-local's reservation files no longer name the sandbox.
    const ipam = path.join(env.dir, 'ipam', e.netSlot(SLOT).network);
    for (const f of await fs.readdir(ipam).catch(() => [] as string[])) {
      assert.doesNotMatch(await fs.readFile(path.join(ipam, f), 'utf8').catch(() => ''), new RegExp(FAIL));
    }
  });
});
