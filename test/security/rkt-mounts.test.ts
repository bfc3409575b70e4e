/**
 * Mount redirection on the rkt handler (issue #19, items 1 and 3), as real attempts through the daemon's socket:
 *  - an image whose /etc/hosts is a symlink to /usr/bin/env: the stage1 once followed it in the pod's namespace
 *    and bound the hosts file over the pod's /usr/bin/env, which every later app start runs;
 *  - /etc/hosts a FIFO (in an image, or in a volume mounted at /etc): opening it to create the mount target hung a
 *    libuv thread of the daemon for good;
 *  - a running container sharing a volume swaps a path component of another container's volume target for a
 *    symlink to a host directory while that container is created (the runc CVE-2021-30465 race).
 * Each case asserts the attack fails (nothing lands outside the app root, nothing hangs) and the daemon serves.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HOSTILE, record, rktSecurityEnv, type RktSecurityEnv } from './rkt-harness';

function mountedAt(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

describe('rkt: mounts never leave the app root and never block', { timeout: 600_000 }, () => {
  let env: RktSecurityEnv;
  let pod: { id: string; config: Record<string, unknown> };

  before(async () => {
    env = await rktSecurityEnv('mounts', [HOSTILE.hostsLink, HOSTILE.fifoEtc]);
    pod = await env.runPod('mounts');
  });
  after(async () => {
    await env?.cleanup();
  });

  it('an image symlink /etc/hosts -> /usr/bin/env stays inside the app root', async () => {
    const hostile = await env.container(pod, 'hostslink', {
      image: { image: HOSTILE.hostsLink },
      command: ['/bin/sh', '-c', 'cat /etc/hosts; echo; head -c 9 /usr/bin/env; echo'],
    });
    assert.equal((await env.exited(hostile)).exit_code, 0);
    const log = await env.log(hostile);
    assert.match(log, /stdout F 127\.0\.0\.1\tlocalhost$/m, "the hosts file landed on the app's own /usr/bin/env");
    // The pod's /usr/bin/env (the enter chain runs it for every app) is untouched: a later app starts normally.
    const next = await env.container(pod, 'after', { command: ['/bin/sh', '-c', 'echo next-app-ran'] });
    assert.equal((await env.exited(next)).exit_code, 0);
    assert.match(await env.log(next), /stdout F next-app-ran$/m);
    await env.serving();
    await record(
      'image symlink /etc/hosts -> /usr/bin/env (stage1 bind mount redirect)',
      'resolved inside the app root; the pod and later apps unaffected',
    );
  });

  it('a FIFO at /etc/hosts in a volume does not block the daemon', async () => {
    const etc = path.join(env.dir, 'fifo-etc');
    await fs.mkdir(etc, { recursive: true });
    execFileSync('mkfifo', [path.join(etc, 'hosts'), path.join(etc, 'resolv.conf'), path.join(etc, 'hostname')]);
    const id = await env.container(pod, 'fifovol', {
      command: ['/bin/cat', '/etc/hosts'],
      mounts: [{ container_path: '/etc', host_path: etc }],
    });
    assert.equal((await env.exited(id)).exit_code, 0);
    assert.match(await env.log(id), /localhost/);
    await env.serving();
    await record(
      'FIFO /etc/hosts (volume at /etc): the mount target open',
      'never opened for I/O (O_PATH); bound over, no hang',
    );
  });

  it('an image with FIFOs at /etc/passwd, /etc/group and /etc/hosts does not block the daemon', async () => {
    const started = Date.now();
    const outcome = await env
      .container(pod, 'fifoimage', { image: { image: HOSTILE.fifoEtc }, command: ['/bin/cat', '/etc/hosts'] })
      .then(
        (id) => `created ${id}`,
        (err: Error) => `refused: ${err.message}`,
      );
    assert.ok(Date.now() - started < 60_000, outcome);
    assert.doesNotMatch(outcome, /DEADLINE/i);
    const t = Date.now();
    await env.serving();
    assert.ok(Date.now() - t < 5000, 'Version answers at once: no libuv thread is stuck on a FIFO');
    await record(
      'image with FIFO /etc/passwd, /etc/group, /etc/hosts',
      outcome.startsWith('created') ? 'created; FIFOs never opened' : 'refused; no hang',
    );
  });

  it('a container swapping a volume path component for a symlink never gets a volume over a host dir', async () => {
    const shared = path.join(env.dir, 'shared');
    const payload = path.join(env.dir, 'payload');
    const victim = path.join(env.dir, 'victim');
    await fs.mkdir(shared, { recursive: true });
    await fs.mkdir(payload, { recursive: true });
    await fs.mkdir(path.join(victim, 'target'), { recursive: true });
    await fs.writeFile(path.join(payload, 'marker'), 'payload\n');
    // The racer flips /shared/sub between a real directory and a symlink to the host's victim dir.
    await env.container(pod, 'racer', {
      command: [
        '/bin/sh',
        '-c',
        `while :; do rm -rf /shared/sub; mkdir -p /shared/sub/target; rm -rf /shared/sub; ln -s ${victim} /shared/sub; done`,
      ],
      mounts: [{ container_path: '/shared', host_path: shared }],
    });
    let created = 0;
    let refused = 0;
    for (let i = 0; i < 12; i++) {
      const r = await env
        .container(
          pod,
          `victim-${i}`,
          {
            command: ['/bin/true'],
            mounts: [
              { container_path: '/shared', host_path: shared },
              { container_path: '/shared/sub/target', host_path: payload, readonly: true },
            ],
          },
          false,
        )
        .then(
          () => true,
          () => false,
        );
      if (r) created++;
      else refused++;
      assert.deepEqual(mountedAt(victim), [], `attempt ${i}: a volume was mounted on the host's victim dir`);
      assert.equal(existsSync(path.join(victim, 'target', 'marker')), false);
    }
    assert.ok(created > 0, 'the race never let a create through: the test proved nothing');
    await env.serving();
    await record(
      'volume target component swapped for a symlink during CreateContainer (CVE-2021-30465 pattern)',
      `never outside the app root (${created} created inside it, ${refused} refused)`,
    );
  });
});
