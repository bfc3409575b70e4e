/**
 * Hostile images through the daemon's socket, on every backend that runs them from the host (runc, docker; the VM
 * reads image files inside its guest, rkt has its own corpus in rkt-*.test.ts):
 *  - FIFOs at /etc/passwd and /etc/group: more concurrent CreateContainer calls than libuv has threads must fail
 *    (or, on docker, leave the file to dockerd) without stalling the daemon;
 *  - /etc/hosts, /etc/resolv.conf, /etc/hostname symlinked to host paths: the pod's files land inside the
 *    container, the host targets stay untouched and unmounted;
 *  - a setuid-root binary in a layer: not runnable by a local non-root user from crimux's (or dockerd's) dirs.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HOSTILE_FIFO_PASSWD, HOSTILE_SETUID, HOSTILE_SYMLINK_ETC } from '../fixtures/images';
import * as s from './env';

const SLOT = 40;
const log = new s.ResultLog('hostile-images');

describe('hostile images', { timeout: 600_000 }, () => {
  let env: s.SecEnv;
  before(async () => {
    env = await s.startSecDaemon(SLOT);
    for (const backend of s.BACKENDS) {
      for (const img of [HOSTILE_FIFO_PASSWD, HOSTILE_SYMLINK_ETC, HOSTILE_SETUID]) {
        await env.d.img('PullImage', { image: { image: img.ref, runtime_handler: backend } }, { deadlineMs: 120_000 });
      }
    }
  });
  after(() => env?.cleanup());

  for (const backend of s.BACKENDS) {
    it(`${backend}: FIFO /etc/passwd and /etc/group do not stall the daemon`, async () => {
      const pod = await s.runPod(env, backend, `fifo-${backend}`);
      const t0 = Date.now();
      const attempts = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          s.createContainer(
            env,
            pod,
            s.containerConfig(`fifo-${i}`, ['id'], { image: { image: HOSTILE_FIFO_PASSWD.ref } }),
            20_000,
          ),
        ),
      );
      const ms = Date.now() - t0;
      await s.assertServing(env);
      assert.ok(ms < 20_000, `creates took ${ms} ms`);
      const refused = attempts.filter((a) => a.status === 'rejected');
      if (backend === 'runc') {
        assert.equal(refused.length, attempts.length);
        for (const r of refused)
          assert.match(String((r.reason as Error).message), /etc\/(passwd|group): not a regular file \(a FIFO\)/);
      }
      log.record({
        attack: 'FIFO at /etc/passwd and /etc/group (6 concurrent creates)',
        backend,
        outcome:
          refused.length === attempts.length
            ? `${s.refusal((refused[0] as PromiseRejectedResult).reason)} in ${ms} ms; daemon serving`
            : `created without crimux opening the files (dockerd resolves users) in ${ms} ms; daemon serving`,
      });
    });

    it(`${backend}: symlinked /etc/hosts, /etc/resolv.conf, /etc/hostname stay inside the container`, async () => {
      const targets = [HOSTILE_SYMLINK_ETC.hostsTarget, HOSTILE_SYMLINK_ETC.resolvTarget];
      for (const t of targets) fs.writeFileSync(t, 'host-original\n');
      try {
        const pod = await s.runPod(env, backend, `symlink-${backend}`);
        const out = await s
          .runToExit(
            env,
            pod,
            s.containerConfig('cat', ['sh', '-c', 'cat /etc/hosts /etc/resolv.conf /etc/hostname'], {
              image: { image: HOSTILE_SYMLINK_ETC.ref },
            }),
          )
          .catch((err: unknown) => `error: ${(err as { details?: string }).details ?? String(err)}`);
        for (const t of targets) assert.equal(fs.readFileSync(t, 'utf8'), 'host-original\n', `${t} was changed`);
        const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
        for (const t of [...targets, '/etc/hostname']) {
          assert.ok(!mountinfo.split('\n').some((l) => l.split(' ')[4] === t), `${t} became a mount point on the host`);
        }
        assert.ok(!out.includes('host-original'), 'the container read a host target');
        await s.assertServing(env);
        log.record({
          attack: 'image /etc/hosts, /etc/resolv.conf, /etc/hostname symlinked to host paths',
          backend,
          outcome: out.startsWith('error')
            ? `refused by runc (${/msg="([^"]{0,140})/.exec(out)?.[1] ?? out.slice(7, 120)}); host untouched; daemon serving`
            : 'contained: pod files resolved inside the rootfs, host targets untouched; daemon serving',
        });
      } finally {
        for (const t of targets) fs.rmSync(t, { force: true });
      }
    });
  }

  it('runc and docker: a setuid-root binary from a layer cannot be run by a local non-root user', async () => {
    // The daemon's temp dir is made world-traversable, as /var/lib is: only crimux's own modes may stop the user.
    fs.chmodSync(env.d.dir, 0o755);
    const pod = await s.runPod(env, 'runc', 'suid-runc');
    await s.runToExit(
      env,
      pod,
      s.containerConfig('ls', ['ls', '-l', HOSTILE_SETUID.binary], { image: { image: HOSTILE_SETUID.ref } }),
    );
    const dpod = await s.runPod(env, 'docker', 'suid-docker');
    await s.runToExit(
      env,
      dpod,
      s.containerConfig('ls', ['ls', '-l', HOSTILE_SETUID.binary], { image: { image: HOSTILE_SETUID.ref } }),
    );
    const roots = { runc: env.d.stateDir, docker: '/var/lib/docker' };
    for (const [backend, root] of Object.entries(roots)) {
      const found = execFileSync(
        'find',
        [root, '-xdev', '-name', path.basename(HOSTILE_SETUID.binary), '-perm', '-4000'],
        {
          encoding: 'utf8',
        },
      )
        .split('\n')
        .filter(Boolean);
      assert.ok(found.length > 0, `no setuid copy found under ${root}`);
      for (const f of found) {
        // The exec comes from a shell already running as nobody, as a local user's would (setpriv itself may
        // resolve its program before it switches users).
        const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', '--', '/bin/sh', '-c', 'exec "$0" id', f];
        const r = spawnSync('setpriv', asNobody, { encoding: 'utf8' });
        assert.notEqual(r.status, 0, `${f} ran as nobody: ${r.stdout}`);
        assert.match(r.stderr, /Permission denied/);
      }
      log.record({
        attack: 'setuid-root binary in a layer, run by a local non-root user',
        backend,
        outcome: `refused by the kernel: ${found.length} copies under ${backend === 'runc' ? 'stateDir (0700)' : "dockerd's data root"}, Permission denied`,
      });
    }
    await s.assertServing(env);
  });
});
