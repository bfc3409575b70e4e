/**
 * What the built-in stage1 enforces, checked from inside the apps (the README's table): user, groups, working dir,
 * capability bounding set, no_new_privs, read-only root, masked and read-only paths, read-only volumes, memory
 * limit, PID namespace per app; plus TTY exec, log reopening, and rkt's liveness rules when processes die behind
 * its back (monitor lost → 255, stage1 killed → pod exited).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { reopenLog } from '../../src/host/conmon';
import { killCgroup } from '../../src/backends/rkt/stage1/cgroups';
import type { Stage1PodManager } from '../../src/backends/rkt/stage1/manager';
import type { AppSpec } from '../../src/backends/rkt/pod-manager';
import { appSpec, collect, waitFor } from './contract';
import { TEST_IMAGE } from './helpers/rootfs';
import { stage1Fixture, type Stage1Fixture } from './helpers/stage1';

describe('built-in stage1: enforcement seen from inside the app', { timeout: 300_000 }, () => {
  let fx: Stage1Fixture;
  let pm: Stage1PodManager;
  let uuid = '';
  let vol = '';
  let n = 0;

  /** Runs argv in a fresh app built from extra; returns its exec output. */
  async function inApp(
    extra: Partial<AppSpec>,
    argv: string[],
  ): Promise<{ stdout: string; stderr: string; code: number }> {
    const name = `0-t${n++}`;
    await pm.appAdd(uuid, appSpec(name, TEST_IMAGE, ['sleep', '1000'], extra));
    await pm.appStart(uuid, name);
    try {
      return await collect(await pm.appExec(uuid, name, argv, { tty: false, stdin: false }));
    } finally {
      await pm.appRm(uuid, name);
    }
  }

  before(async () => {
    fx = await stage1Fixture('enforce');
    pm = await fx.open();
    vol = path.join(fx.dir, 'vol');
    await fs.mkdir(vol);
    await fs.writeFile(path.join(vol, 'f'), 'host\n');
    uuid = await pm.sandbox({
      userAnnotations: {},
      userLabels: {},
      hostname: 'enforce',
      network: { kind: 'host' },
      logDirectory: path.join(fx.dir, 'logs'),
    });
  });
  after(async () => {
    await fx.cleanup();
  });

  it('user, groups and working dir', async () => {
    const r = await inApp({ uid: 33, gid: 33, supplementaryGids: [33, 100], workingDir: '/home/www' }, [
      'sh',
      '-c',
      'id; pwd',
    ]);
    assert.equal(r.stdout, 'uid=33(www-data) gid=33(www-data) groups=33(www-data),100(users)\n/home/www\n');
  });

  it('capability bounding set, effective set of root, and no_new_privs', async () => {
    const r = await inApp({ capsRetain: ['CAP_CHOWN', 'CAP_SYS_CHROOT'], noNewPrivileges: true }, [
      'grep',
      '-E',
      '^(CapEff|CapBnd|NoNewPrivs)',
      '/proc/self/status',
    ]);
    // CAP_CHOWN is bit 0, CAP_SYS_CHROOT bit 18.
    assert.match(r.stdout, /CapEff:\s+0000000000040001/);
    assert.match(r.stdout, /CapBnd:\s+0000000000040001/);
    assert.match(r.stdout, /NoNewPrivs:\s+1/);
  });

  it('an empty bounding set and a seccomp filter, loaded by crimux-stage1 after its chroot (issue #20)', async () => {
    const r = await inApp(
      {
        capsRetain: [],
        seccomp: {
          defaultAction: 'SCMP_ACT_ALLOW',
          architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
          syscalls: [
            { names: ['sethostname', 'no_such_syscall'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
            { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
          ],
        },
      },
      ['sh', '-c', 'grep -E "^(CapEff|CapBnd|Seccomp):" /proc/self/status; hostname x 2>&1; echo rc=$?'],
    );
    assert.match(r.stdout, /CapEff:\s+0000000000000000/);
    assert.match(r.stdout, /CapBnd:\s+0000000000000000/);
    assert.match(r.stdout, /Seccomp:\s+2/);
    assert.match(r.stdout, /hostname: .*(Permission denied|denied)[\s\S]*rc=1/i);
  });

  it('read-only root, masked and read-only paths', async () => {
    const r = await inApp({ readOnlyRootfs: true, maskedPaths: ['/proc/cpuinfo'], readonlyPaths: ['/proc/sys'] }, [
      'sh',
      '-c',
      'touch /x 2>/dev/null && echo root-rw || echo root-ro; wc -c < /proc/cpuinfo; echo 1 > /proc/sys/vm/swappiness 2>/dev/null && echo sys-rw || echo sys-ro',
    ]);
    assert.equal(r.stdout, 'root-ro\n0\nsys-ro\n');
  });

  it('volumes: read-write and read-only binds of host paths', async () => {
    const r = await inApp(
      {
        mounts: [
          { name: 'rw', hostPath: vol, containerPath: '/rw', readOnly: false },
          { name: 'ro', hostPath: vol, containerPath: '/ro', readOnly: true },
        ],
      },
      [
        'sh',
        '-c',
        'cat /ro/f; echo app > /rw/g && echo rw-ok; echo x > /ro/h 2>/dev/null && echo ro-broken || echo ro-ok',
      ],
    );
    assert.equal(r.stdout, 'host\nrw-ok\nro-ok\n');
    assert.equal(await fs.readFile(path.join(vol, 'g'), 'utf8'), 'app\n');
    assert.ok(
      !(await fs.stat(path.join(vol, 'h')).then(
        () => true,
        () => false,
      )),
    );
  });

  it('memory limit on the app cgroup', async () => {
    const name = `0-t${n++}`;
    await pm.appAdd(uuid, appSpec(name, TEST_IMAGE, ['sleep', '1000'], { resources: { memoryLimitBytes: 32 << 20 } }));
    const h = await pm.appHandle(uuid, name);
    const memDir = Object.entries(h.stored.cgroup).find(([m]) => m.endsWith('/memory'));
    if (memDir)
      assert.equal(
        (await fs.readFile(path.join(memDir[0], memDir[1], 'memory.limit_in_bytes'), 'utf8')).trim(),
        String(32 << 20),
      );
    await pm.appRm(uuid, name);
  });

  it('pid=CONTAINER: the app is PID 1 of its own namespace; pid=POD sees the pod', async () => {
    const own = await inApp({ pidNamespace: 'container' }, ['ps', '-o', 'pid,args']);
    assert.match(own.stdout, /^\s*1 sleep 1000$/m);
    assert.doesNotMatch(own.stdout, /crimux-stage1 pause/);
    const shared = await inApp({ pidNamespace: 'pod' }, ['ps', '-o', 'pid,args']);
    assert.match(shared.stdout, /crimux-stage1 pause/);
  });

  it('exec with a TTY gets a terminal of the pod', async () => {
    const name = `0-t${n++}`;
    await pm.appAdd(uuid, appSpec(name, TEST_IMAGE, ['sleep', '1000']));
    await pm.appStart(uuid, name);
    const child = await pm.appExec(uuid, name, ['tty'], { tty: true, stdin: true });
    child.stdin?.end();
    const r = await collect(child);
    assert.match(r.stdout, /^\/dev\/pts\/\d+\r\n$/);
    await pm.appRm(uuid, name);
  });

  it('reopens the CRI log after rotation', async () => {
    const name = `0-t${n++}`;
    await pm.appAdd(
      uuid,
      appSpec(name, TEST_IMAGE, ['sh', '-c', 'while :; do echo tick; sleep 0.1; done'], { logPath: 'rot/0.log' }),
    );
    await pm.appStart(uuid, name);
    const log = path.join(fx.dir, 'logs', 'rot', '0.log');
    await waitFor('first lines', async () =>
      (await fs.readFile(log, 'utf8').catch(() => '')).includes('tick') ? true : undefined,
    );
    await fs.rename(log, `${log}.1`);
    await reopenLog(path.join((await pm.appHandle(uuid, name)).infoDir, 'bundle'));
    await waitFor('lines in the new file', async () =>
      (await fs.readFile(log, 'utf8').catch(() => '')).includes(' stdout F tick') ? true : undefined,
    );
    await pm.appRm(uuid, name);
  });

  it('an app whose monitor and process died behind its back reports exit 255', async () => {
    const name = `0-t${n++}`;
    await pm.appAdd(uuid, appSpec(name, TEST_IMAGE, ['sleep', '1000']));
    await pm.appStart(uuid, name);
    const h = await pm.appHandle(uuid, name);
    const conmon = Number(await fs.readFile(path.join(h.infoDir, 'conmon.pid'), 'utf8'));
    process.kill(conmon, 'SIGKILL');
    await pm.appStop(uuid, name, 0).catch(() => undefined);
    const st = await waitFor('exited', async () => {
      const a = await pm.appStatus(uuid, name);
      return a.state === 'exited' ? a : undefined;
    });
    assert.ok(st.exit_code === 255 || st.exit_code === 137, `exit ${st.exit_code}`);
    await pm.appRm(uuid, name);
  });

  it('a pod whose stage1 was killed is exited, and its lock is free', async () => {
    const other = await pm.sandbox({ userAnnotations: {}, userLabels: {}, network: { kind: 'host' } });
    const ppid = Number((await fs.readFile(path.join(fx.root, 'pods', 'run', other, 'ppid'), 'utf8')).split('\n')[0]);
    process.kill(ppid, 'SIGKILL');
    await waitFor('pod exited', async () => ((await pm.status(other)).state === 'exited' ? true : undefined));
    await pm.rm(other);
  });

  it('a status read of a pod being removed writes nothing into it (rm would fail with ENOTEMPTY)', async () => {
    const other = await pm.sandbox({ userAnnotations: {}, userLabels: {}, network: { kind: 'host' } });
    const name = '0-gone';
    await pm.appAdd(other, appSpec(name, TEST_IMAGE, ['sleep', '1000']));
    await pm.appStart(other, name);
    const h = await pm.appHandle(other, name);
    // Monitor, app and stage1 die without an exit code recorded, then rm's first step moves the pod to exited-garbage.
    process.kill(Number(await fs.readFile(path.join(h.infoDir, 'conmon.pid'), 'utf8')), 'SIGKILL');
    const run = path.join(fx.root, 'pods', 'run', other);
    process.kill(Number((await fs.readFile(path.join(run, 'ppid'), 'utf8')).split('\n')[0]), 'SIGKILL');
    await killCgroup(h.stored.cgroup);
    const garbage = path.join(fx.root, 'pods', 'exited-garbage', other);
    await fs.mkdir(path.dirname(garbage), { recursive: true });
    await fs.rename(run, garbage);
    const st = await waitFor('the app read as exited', async () => {
      const a = await pm.appStatus(other, name);
      return a.state === 'exited' ? a : undefined;
    });
    assert.equal(st.exit_code, 255);
    assert.deepEqual(
      (await fs.readdir(path.join(garbage, 'appsinfo', name))).filter((f) => f.startsWith('exit')),
      [],
      'nothing recorded in a directory rm is deleting',
    );
    await pm.rm(other);
    await assert.rejects(fs.stat(garbage), { code: 'ENOENT' });
  });
});
