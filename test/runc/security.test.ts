/**
 * Security contexts of runc containers over crimux's CRI socket, checked from inside the container: read-only
 * root, run-as user/group and supplementary groups (numeric and by name from the image's /etc/passwd), dropped
 * capability, no_new_privs, masked and read-only /proc paths, seccomp RuntimeDefault / Unconfined / Localhost,
 * and the oom_score_adj clamp.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX } from '../fixtures/images';
import { grpc, rejectsWithCode } from '../helpers/cri-client';
import { ensureTestRegistry } from '../helpers/registry';
import { exec, runPod, startContainer, startRuncDaemon, type Pod, type RuncDaemon } from './cri';

const SLOT = 2;
const KEEP = ['sleep', '1000'];
/** CapEff bit of CAP_CHOWN (0) and CAP_NET_RAW (13). */
const CAP_CHOWN = 1n << 0n;
const CAP_NET_RAW = 1n << 13n;

describe('runc security contexts', { timeout: 600_000 }, () => {
  let r: RuncDaemon;
  let pod: Pod;
  const sec = (sc: Record<string, unknown>) => ({ linux: { security_context: sc } });
  const sh = async (id: string, script: string) => {
    const res = await exec(r.daemon, id, ['sh', '-c', script]);
    return { code: res.exit_code, out: res.stdout.toString().trim(), err: res.stderr.toString().trim() };
  };
  const capEff = async (id: string) =>
    BigInt('0x' + (await sh(id, "grep CapEff /proc/self/status | awk '{print $2}'")).out);

  before(async () => {
    await ensureTestRegistry();
    r = await startRuncDaemon(SLOT);
    await r.daemon.img(
      'PullImage',
      { image: { image: BUSYBOX.ref, runtime_handler: 'runc' } },
      { deadlineMs: 120_000 },
    );
    pod = await runPod(r.daemon, r.logRoot, 'sec');
  });

  after(async () => {
    if (pod)
      await r?.daemon.rt('RemovePodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 }).catch(() => undefined);
    await r?.cleanup();
  });

  it('read-only rootfs refuses writes; the pod files stay mounted', async () => {
    const id = await startContainer(r.daemon, pod, 'ro', KEEP, sec({ readonly_rootfs: true }));
    const res = await sh(id, 'touch /newfile');
    assert.notEqual(res.code, 0);
    assert.match(res.err, /Read-only file system/);
    // The pod files stay writable mounts of their own, as in containerd.
    assert.equal((await sh(id, 'cat /etc/hostname')).out, 'sec');
  });

  it('runs as the requested uid/gid with supplementary groups', async () => {
    const id = await startContainer(
      r.daemon,
      pod,
      'uid',
      KEEP,
      sec({ run_as_user: { value: 1000 }, run_as_group: { value: 2000 }, supplemental_groups: [3000] }),
    );
    assert.equal((await sh(id, 'id -u; id -g; id -G')).out, '1000\n2000\n2000 3000');
  });

  it('resolves run_as_username through the image /etc/passwd and /etc/group', async () => {
    const id = await startContainer(r.daemon, pod, 'named', KEEP, sec({ run_as_username: 'www-data' }));
    assert.equal((await sh(id, 'id -u; id -g; id -G')).out, '33\n33\n33 100');
    await rejectsWithCode(
      startContainer(r.daemon, pod, 'ghost', KEEP, sec({ run_as_username: 'no-such-user' })),
      grpc.status.INVALID_ARGUMENT,
    );
  });

  it('drops and adds capabilities', async () => {
    const dflt = await startContainer(r.daemon, pod, 'caps-default', KEEP);
    assert.ok((await capEff(dflt)) & CAP_CHOWN, 'default set has CHOWN');
    const id = await startContainer(
      r.daemon,
      pod,
      'caps',
      KEEP,
      sec({ capabilities: { drop_capabilities: ['CHOWN', 'NET_RAW'] } }),
    );
    const eff = await capEff(id);
    assert.equal(eff & CAP_CHOWN, 0n);
    assert.equal(eff & CAP_NET_RAW, 0n);
    const res = await sh(id, 'touch /tmp/f && chown 1:1 /tmp/f');
    assert.notEqual(res.code, 0);
    assert.match(res.err, /Operation not permitted/);
  });

  it('sets no_new_privs when asked, not otherwise', async () => {
    const on = await startContainer(r.daemon, pod, 'nnp', KEEP, sec({ no_new_privs: true }));
    assert.equal((await sh(on, 'grep NoNewPrivs /proc/self/status')).out, 'NoNewPrivs:\t1');
    const off = await startContainer(r.daemon, pod, 'nnp-off', KEEP);
    assert.equal((await sh(off, 'grep NoNewPrivs /proc/self/status')).out, 'NoNewPrivs:\t0');
  });

  it('masks /proc paths and makes /proc/sys read-only (defaults and the kubelet list)', async () => {
    const id = await startContainer(r.daemon, pod, 'masked', KEEP);
    // This kernel has no /proc/kcore; /proc/keys and /proc/timer_list exist and are in the default list.
    assert.equal((await sh(id, 'wc -c < /proc/keys; wc -c < /proc/timer_list')).out, '0\n0');
    assert.notEqual((await sh(id, 'echo 1 > /proc/sys/vm/drop_caches')).code, 0);
    const listed = await startContainer(
      r.daemon,
      pod,
      'masked-list',
      KEEP,
      sec({ masked_paths: ['/proc/version'], readonly_paths: ['/proc/sys'] }),
    );
    assert.equal((await sh(listed, 'wc -c < /proc/version')).out, '0');
  });

  it('applies seccomp: RuntimeDefault blocks unshare, Unconfined does not, Localhost uses the given file', async () => {
    const confined = await startContainer(
      r.daemon,
      pod,
      'seccomp-default',
      KEEP,
      sec({ seccomp: { profile_type: 'RuntimeDefault' } }),
    );
    const blocked = await sh(confined, 'unshare -U true');
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.err, /Operation not permitted/);
    assert.equal((await sh(confined, 'grep Seccomp: /proc/self/status')).out, 'Seccomp:\t2');

    const free = await startContainer(
      r.daemon,
      pod,
      'seccomp-unconfined',
      KEEP,
      sec({ seccomp: { profile_type: 'Unconfined' } }),
    );
    assert.equal((await sh(free, 'unshare -U true')).code, 0);
    assert.equal((await sh(free, 'grep Seccomp: /proc/self/status')).out, 'Seccomp:\t0');

    const profile = path.join(r.dir, 'no-mkdir.json');
    await fs.writeFile(
      profile,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
      }),
    );
    const local = await startContainer(
      r.daemon,
      pod,
      'seccomp-local',
      KEEP,
      sec({ seccomp: { profile_type: 'Localhost', localhost_ref: profile } }),
    );
    const mk = await sh(local, 'mkdir /tmp/d');
    assert.notEqual(mk.code, 0);
    assert.match(mk.err, /Operation not permitted/);
    assert.equal((await sh(local, 'touch /tmp/ok && echo yes')).out, 'yes');
  });

  it("clamps a negative oom_score_adj to crimux's own value instead of failing", async () => {
    const id = await startContainer(r.daemon, pod, 'oom', KEEP, { linux: { resources: { oom_score_adj: -900 } } });
    const own = Number((await fs.readFile(`/proc/${r.daemon.pid()}/oom_score_adj`, 'utf8')).trim());
    assert.equal(Number((await sh(id, 'cat /proc/self/oom_score_adj')).out), Math.max(-900, own));
    assert.match(r.daemon.logs(), /oom_score_adj clamped/);
  });
});
