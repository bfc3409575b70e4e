/**
 * Host block devices on the rkt handler (issue #19, item 2), as real attempts through the daemon's socket: a root
 * container (CAP_MKNOD is a default capability) makes a node of the host's root disk in /dev, in a volume and in its
 * root, and an image brings such nodes in a layer. None of them may be read: the app's devices cgroup allows only
 * the default character devices, and app roots are mounted nodev. The default devices keep working.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HOSTILE, record, rktSecurityEnv, type RktSecurityEnv } from './rkt-harness';

/**
 * Block devices to try: the disk under the host's "/" (from mountinfo), the usual virtio/SCSI disks, and zram0
 * (253:0) — on sandboxed hosts where even root may not open the real disk, zram is the block device that shows
 * whether the app's own policy holds.
 */
function hostDisks(): string[] {
  const root = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[4] === '/');
  const dev = root?.[2] ?? '';
  return [...new Set([...(dev.startsWith('0:') || !dev ? [] : [dev]), '254:0', '8:0', '253:0'])];
}

describe('rkt: no container reads a host block device', { timeout: 300_000 }, () => {
  let env: RktSecurityEnv;
  let pod: { id: string; config: Record<string, unknown> };

  before(async () => {
    env = await rktSecurityEnv('devices', [HOSTILE.blockdev]);
    pod = await env.runPod('devices');
  });
  after(async () => {
    await env?.cleanup();
  });

  it('nodes made with mknod in /dev, a volume and the root cannot be opened; default devices work', async () => {
    const vol = path.join(env.dir, 'devvol');
    await fs.mkdir(vol, { recursive: true });
    const tries = hostDisks()
      .map((mm, i) => {
        const [maj, min] = mm.split(':');
        return ['/dev', '/vol', '/tmp']
          .map(
            (dir) =>
              `mknod ${dir}/d${i} b ${maj} ${min} && echo made ${dir}/d${i}; if dd if=${dir}/d${i} of=/dev/null bs=512 count=1 2>/dev/null; then echo READ ${dir}/d${i}; fi`,
          )
          .join('; ');
      })
      .join('; ');
    // Character devices outside the default set that the host's root can open: the kernel log, loop-control.
    const chars = ['1 11', '10 237']
      .map((mm, i) => `mknod /dev/c${i} c ${mm}; if (: < /dev/c${i}) 2>/dev/null; then echo READ /dev/c${i}; fi`)
      .join('; ');
    const id = await env.container(pod, 'mknod', {
      command: [
        '/bin/sh',
        '-c',
        `${tries}; ${chars}; head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok`,
      ],
      mounts: [{ container_path: '/vol', host_path: vol }],
    });
    assert.equal((await env.exited(id)).exit_code, 0);
    const log = await env.log(id);
    assert.match(log, /made \/dev\/d0/, 'mknod itself is allowed (CAP_MKNOD, as runc allows it)');
    assert.doesNotMatch(log, /READ /);
    assert.match(log, /stdout F 4$/m);
    assert.match(log, /null-ok/);
    await env.serving();
    await record(
      'mknod of host block devices (root disk, 254:0, 8:0, zram 253:0) in /dev, a volume and the root, and of /dev/kmsg and loop-control in /dev, then open',
      'made but never opened (devices cgroup allow-list, nodev root)',
    );
  });

  it('block device nodes that came in an image layer cannot be opened', async () => {
    const id = await env.container(pod, 'layer', {
      image: { image: HOSTILE.blockdev },
      command: [
        '/bin/sh',
        '-c',
        'for d in /disk-vda /disk-sda /disk-zram; do if [ -b $d ]; then echo present $d; fi; if dd if=$d of=/dev/null bs=512 count=1 2>/dev/null; then echo READ $d; fi; done; echo done',
      ],
    });
    assert.equal((await env.exited(id)).exit_code, 0);
    const log = await env.log(id);
    assert.doesNotMatch(log, /READ /);
    assert.match(log, /done/);
    await env.serving();
    await record(
      'block device nodes in an image layer (b 254:0, b 8:0, b 253:0)',
      /present/.test(log) ? 'present but not readable' : 'not unpacked by the image store; not readable',
    );
  });

  it('an exec joins the same device policy', async () => {
    const id = await env.container(pod, 'execdev', { command: ['sleep', '300'] });
    const [maj, min] = ['253', '0']; // zram: a block device the host's root can open here (see hostDisks)
    const r = await env.d.rt(
      'ExecSync',
      {
        container_id: id,
        cmd: ['/bin/sh', '-c', `mknod /tmp/x b ${maj} ${min}; dd if=/tmp/x of=/dev/null bs=512 count=1 && echo READ`],
        timeout: 20,
      },
      { deadlineMs: 60_000 },
    );
    assert.doesNotMatch(r.stdout.toString(), /READ/);
    assert.notEqual(r.exit_code, 0);
    await env.serving();
    await record('ExecSync: mknod + read of the host disk', 'not readable');
  });
});
