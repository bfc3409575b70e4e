/**
 * The host cgroup layer (src/host/cgroup*.ts) against fake cgroup trees in a temp dir, and the systemd cgroup
 * driver's naming and refusals (src/host/systemd-cgroup.ts, src/backends/runc/cgroup-driver.ts). The real
 * hierarchies are exercised by the runc suites on this v1 host and by test/node-vm/ in a cgroup v2 + systemd VM.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CGROUP2_SUPER_MAGIC, cgroupVersionOfMagic, detectCgroupVersion, openCgroupLayer } from '../../src/host/cgroup';
import { sharesToWeight, blkioToIoWeight, parseIoStat } from '../../src/host/cgroup-v2';
import { isSystemdSlice, sliceDir, systemdCgroupDir, validSliceName } from '../../src/host/systemd-cgroup';
import {
  checkCgroupDriver,
  containerCgroupsPath,
  driverRuntimeArgs,
  podCgroupParent,
} from '../../src/backends/runc/cgroup-driver';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/errors';
import { cgroupDriverOf } from '../../src/config/info';
import type { Config } from '../../src/config/types';
import { nowNs } from '../../src/util/clock';

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

describe('cgroup version detection', () => {
  it('selects v2 only for the cgroup2 filesystem magic', () => {
    assert.equal(cgroupVersionOfMagic(CGROUP2_SUPER_MAGIC), 2);
    assert.equal(cgroupVersionOfMagic(BigInt(CGROUP2_SUPER_MAGIC)), 2);
    assert.equal(cgroupVersionOfMagic(0x01021994), 1); // tmpfs: the v1 controller mounts live under it
    assert.equal(cgroupVersionOfMagic(0xef53), 1);
  });
  it('a plain directory (not a cgroup2 mount) is v1, a missing one too', () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'cgv2-detect-'));
    try {
      assert.equal(detectCgroupVersion(d), 1);
      assert.equal(detectCgroupVersion(path.join(d, 'missing')), 1);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('cgroup v2 layer (fake unified tree)', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'cgv2-tree-'));
    write(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    write(path.join(root, 'cgroup.subtree_control'), '');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('reads cpu.stat, memory.current/max/stat, pids.current and io.stat', async () => {
    const cg = openCgroupLayer(root, 2);
    const dir = path.join(root, 'kubepods/pod1/c1');
    write(path.join(dir, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
    write(path.join(dir, 'memory.current'), '10485760\n');
    write(path.join(dir, 'memory.max'), '20971520\n');
    write(
      path.join(dir, 'memory.stat'),
      'anon 4194304\nfile 6291456\ninactive_file 2097152\nactive_file 4194304\npgfault 77\npgmajfault 3\n',
    );
    write(path.join(dir, 'pids.current'), '4\n');
    write(
      path.join(dir, 'io.stat'),
      '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2\n',
    );
    const st = await cg.stats('/kubepods/pod1/c1');
    assert.equal(st.cpuUsageNs, 1_500_000n);
    assert.deepEqual(st.memory, {
      usageBytes: 10485760n,
      workingSetBytes: 10485760n - 2097152n,
      rssBytes: 4194304n,
      pageFaults: 77n,
      majorPageFaults: 3n,
      limitBytes: 20971520n,
    });
    assert.equal(st.pids, 4);
    assert.deepEqual(st.io, { readBytes: 4097n, writeBytes: 8194n });
  });

  it('"max" memory is no limit; a missing cgroup has no numbers', async () => {
    const cg = openCgroupLayer(root, 2);
    const dir = path.join(root, 'nolimit');
    write(path.join(dir, 'memory.current'), '100\n');
    write(path.join(dir, 'memory.max'), 'max\n');
    const st = await cg.stats('/nolimit');
    assert.equal(st.memory?.limitBytes, undefined);
    assert.equal(st.memory?.workingSetBytes, 100n);
    const before = nowNs();
    const { cpuReadAtNs, ...gone } = await cg.stats('/gone');
    assert.deepEqual(gone, { cpuUsageNs: undefined, memory: undefined, pids: undefined, io: undefined });
    assert.ok(cpuReadAtNs >= before && cpuReadAtNs <= nowNs(), 'the reading is stamped when it was taken');
  });

  it('apply writes v2 files (shares → weight, quota → cpu.max) and delegates controllers down the path', async () => {
    const cg = openCgroupLayer(root, 2);
    await cg.apply('/crimux/podA', {
      cpuShares: 1024,
      cpuQuota: 50_000,
      cpuPeriod: 100_000,
      memoryLimitBytes: 64 << 20,
      memoryHighBytes: 60 << 20,
      pidsLimit: 128,
      hugepageLimits: [{ pageSize: '2MB', limit: 4 << 21 }],
      ioWeight: 500,
    });
    const dir = path.join(root, 'crimux/podA');
    const rd = (f: string) => readFileSync(path.join(dir, f), 'utf8');
    assert.equal(rd('cpu.weight'), String(sharesToWeight(1024)));
    assert.equal(rd('cpu.weight'), '39'); // runc's conversion: 1 + (1024-2)*9999/262142
    assert.equal(rd('cpu.max'), '50000 100000');
    assert.equal(rd('memory.max'), String(64 << 20));
    assert.equal(rd('memory.high'), String(60 << 20));
    assert.equal(rd('pids.max'), '128');
    assert.equal(rd('hugetlb.2MB.max'), String(4 << 21));
    assert.equal(rd('io.weight'), `default ${blkioToIoWeight(500)}`);
    // The root and /crimux delegate what podA needs; podA itself delegates nothing (it is a leaf).
    for (const d of [root, path.join(root, 'crimux')]) {
      const enabled = readFileSync(path.join(d, 'cgroup.subtree_control'), 'utf8');
      for (const c of ['cpu', 'memory', 'pids', 'hugetlb', 'io']) assert.match(enabled, new RegExp(`\\+${c}\\b`), d);
    }
    assert.equal(existsSync(path.join(dir, 'cgroup.subtree_control')), false);
  });

  it('apply without a quota leaves cpu.max alone; a second apply does not re-delegate', async () => {
    const cg = openCgroupLayer(root, 2);
    await cg.apply('/crimux/podB', { memoryLimitBytes: 1 << 20 });
    assert.equal(existsSync(path.join(root, 'crimux/podB/cpu.max')), false);
    const before = readFileSync(path.join(root, 'crimux/cgroup.subtree_control'), 'utf8');
    await cg.apply('/crimux/podB', { memoryLimitBytes: 2 << 20 });
    assert.equal(readFileSync(path.join(root, 'crimux/cgroup.subtree_control'), 'utf8'), before);
  });

  it('OOM kills come from memory.events', async () => {
    const cg = openCgroupLayer(root, 2);
    write(path.join(root, 'oom/memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n');
    assert.equal(await cg.oomKills('/oom'), 1);
    write(path.join(root, 'nooom/memory.events'), 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n');
    assert.equal(await cg.oomKills('/nooom'), 0);
    assert.equal(await cg.oomKills('/missing'), undefined);
  });

  it('systemd-form paths resolve to the slice/scope directories systemd creates', async () => {
    const cg = openCgroupLayer(root, 2);
    const p = 'kubepods-burstable-pod12ab.slice:crimux:c0ffee';
    assert.equal(
      cg.dir(p),
      path.join(root, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12ab.slice/crimux-c0ffee.scope'),
    );
    write(path.join(cg.dir(p), 'cpu.stat'), 'usage_usec 7\n');
    assert.equal((await cg.stats(p)).cpuUsageNs, 7000n);
    assert.equal(
      cg.dir('kubepods-burstable-pod12ab.slice'),
      path.join(root, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12ab.slice'),
    );
  });

  it('remove deletes the cgroup tree (idempotent) and reports busy leftovers', async () => {
    const cg = openCgroupLayer(root, 2);
    mkdirSync(path.join(root, 'rm/a/b'), { recursive: true });
    assert.deepEqual(await cg.remove('/rm/a'), []);
    assert.equal(existsSync(path.join(root, 'rm/a')), false);
    assert.deepEqual(await cg.remove('/rm/a'), []);
    // A regular file in the dir stands in for a busy cgroup (rmdir fails).
    write(path.join(root, 'rm/busy/cgroup.procs'), '1\n');
    assert.deepEqual(await cg.remove('/rm/busy'), [path.join(root, 'rm/busy')]);
  });

  it('hasController follows the root cgroup.controllers', () => {
    const cg = openCgroupLayer(root, 2);
    assert.equal(cg.hasController('hugetlb'), true);
    assert.equal(cg.hasController('blkio'), false);
  });
});

describe('cgroup v1 layer (fake per-controller mounts)', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'cgv1-tree-'));
    for (const c of ['cpu', 'cpuacct', 'memory', 'pids', 'blkio']) mkdirSync(path.join(root, c));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('reads cpuacct, memory and pids; writes cpu/memory/pids files; OOM from memory.oom_control', async () => {
    const cg = openCgroupLayer(root, 1);
    write(path.join(root, 'cpuacct/p/c/cpuacct.usage'), '12345\n');
    write(path.join(root, 'memory/p/c/memory.usage_in_bytes'), '1000\n');
    write(path.join(root, 'memory/p/c/memory.limit_in_bytes'), '9223372036854771712\n');
    write(path.join(root, 'memory/p/c/memory.stat'), 'total_inactive_file 200\ntotal_rss 300\ntotal_pgfault 5\n');
    write(path.join(root, 'memory/p/c/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    write(path.join(root, 'pids/p/c/pids.current'), '3\n');
    write(
      path.join(root, 'blkio/p/c/blkio.throttle.io_service_bytes_recursive'),
      '8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n',
    );
    const st = await cg.stats('/p/c');
    assert.equal(st.cpuUsageNs, 12345n);
    assert.equal(st.memory?.workingSetBytes, 800n);
    assert.equal(st.memory?.rssBytes, 300n);
    assert.equal(st.memory?.limitBytes, undefined);
    assert.equal(st.pids, 3);
    assert.deepEqual(st.io, { readBytes: 10n, writeBytes: 20n });
    assert.equal(await cg.oomKills('/p/c'), 2);
    await cg.apply('/p', { cpuShares: 512, cpuQuota: 20_000, memoryLimitBytes: 4096, pidsLimit: 9 });
    assert.equal(readFileSync(path.join(root, 'cpu/p/cpu.shares'), 'utf8'), '512');
    assert.equal(readFileSync(path.join(root, 'cpu/p/cpu.cfs_quota_us'), 'utf8'), '20000');
    assert.equal(readFileSync(path.join(root, 'cpu/p/cpu.cfs_period_us'), 'utf8'), '100000');
    assert.equal(readFileSync(path.join(root, 'memory/p/memory.limit_in_bytes'), 'utf8'), '4096');
    assert.equal(readFileSync(path.join(root, 'pids/p/pids.max'), 'utf8'), '9');
  });
});

describe('v2 conversions', () => {
  it('shares → weight and blkio weight → io.weight follow runc', () => {
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(262144), 10000);
    assert.equal(sharesToWeight(102), 4); // 1 + 100*9999/262142 in integer arithmetic
    assert.equal(blkioToIoWeight(10), 1);
    assert.equal(blkioToIoWeight(1000), 10000);
    assert.deepEqual(parseIoStat(''), { readBytes: 0n, writeBytes: 0n });
  });
});

describe('systemd cgroup naming', () => {
  it('expands slices as systemd nests them', () => {
    assert.equal(sliceDir('-.slice'), '/');
    assert.equal(sliceDir('kubepods.slice'), '/kubepods.slice');
    assert.equal(
      sliceDir('kubepods-besteffort-podx.slice'),
      '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice',
    );
    assert.equal(systemdCgroupDir('system.slice:crimux:abc'), '/system.slice/crimux-abc.scope');
    assert.equal(systemdCgroupDir('-.slice:crimux:abc'), '/crimux-abc.scope');
    assert.equal(systemdCgroupDir('/kubepods/pod1/abc'), undefined);
    assert.equal(isSystemdSlice('kubepods.slice'), true);
    assert.equal(isSystemdSlice('/kubepods/x.slice'), false);
    assert.equal(validSliceName('kubepods-burstable-pod1.slice'), true);
    assert.equal(validSliceName('kubepods--x.slice'), false);
    assert.equal(validSliceName('-x.slice'), false);
  });
});

describe('runc cgroup driver', () => {
  it('cgroupfs: paths pass, slices are refused naming the setting', () => {
    assert.deepEqual(podCgroupParent('cgroupfs', '/crimux', 'abc', ''), { parent: '/crimux/abc', owned: true });
    assert.deepEqual(podCgroupParent('cgroupfs', '/crimux', 'abc', '/kubepods/pod1/'), {
      parent: '/kubepods/pod1',
      owned: false,
    });
    assert.throws(
      () => podCgroupParent('cgroupfs', '/crimux', 'abc', 'kubepods-burstable-pod1.slice'),
      (e: unknown) => e instanceof InvalidArgumentError && /cgroupDriver is "cgroupfs"/.test(e.message),
    );
    assert.throws(() => podCgroupParent('cgroupfs', '/crimux', 'abc', '/a/../b'), InvalidArgumentError);
    assert.equal(containerCgroupsPath('/kubepods/pod1', 'c1'), '/kubepods/pod1/c1');
    assert.deepEqual(driverRuntimeArgs('cgroupfs'), []);
  });
  it('systemd: slices pass, paths are refused, crimux-owned pods get their own slice', () => {
    assert.deepEqual(podCgroupParent('systemd', '/crimux', 'abc', 'kubepods-burstable-pod1.slice'), {
      parent: 'kubepods-burstable-pod1.slice',
      owned: false,
    });
    assert.deepEqual(podCgroupParent('systemd', '/crimux', 'abc', ''), { parent: 'crimux-podabc.slice', owned: true });
    assert.deepEqual(podCgroupParent('systemd', 'tenant.slice', 'abc', ''), {
      parent: 'tenant-podabc.slice',
      owned: true,
    });
    assert.throws(
      () => podCgroupParent('systemd', '/crimux', 'abc', '/kubepods/pod1'),
      (e: unknown) => e instanceof InvalidArgumentError && /cgroupDriver is "systemd"/.test(e.message),
    );
    assert.throws(() => podCgroupParent('systemd', '/crimux', 'abc', 'kube--pods.slice'), InvalidArgumentError);
    assert.equal(
      containerCgroupsPath('kubepods-burstable-pod1.slice', 'c1'),
      'kubepods-burstable-pod1.slice:crimux:c1',
    );
    assert.deepEqual(driverRuntimeArgs('systemd'), ['--systemd-cgroup']);
  });
  it('systemd without systemd as PID 1 is refused at start-up; cgroupfs always starts', () => {
    assert.throws(
      () => checkCgroupDriver('systemd', false),
      (e: unknown) => e instanceof FailedPreconditionError && /systemd is not PID 1/.test(e.message),
    );
    checkCgroupDriver('systemd', true);
    checkCgroupDriver('cgroupfs', false);
  });
  it("RuntimeConfig reports the runc backend's driver (cgroupfs by default)", () => {
    const cfg = (driver?: string) =>
      ({ backends: { runc: driver ? { cgroupDriver: driver } : {} } }) as unknown as Config;
    assert.equal(cgroupDriverOf(cfg()), 'cgroupfs');
    assert.equal(cgroupDriverOf(cfg('cgroupfs')), 'cgroupfs');
    assert.equal(cgroupDriverOf(cfg('systemd')), 'systemd');
  });
});
