/**
 * The daemon's one pod network (src/network/pod-networking.ts) as root, without a CNI config: a Docker-style
 * adopted namespace outlives its process and goes with tearDown; a failed setUp leaves no namespace; a bad pid is
 * refused; CNI results cached by an older crimux in a backend's own dir are moved into the shared cache (the
 * shared cache's own entries win).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError } from '../../src/errors';
import { nullLogger } from '../../src/log/logger';
import { PodNetworking, isNetnsMount } from '../../src/network';
import type * as cri from '../../src/cri/types';

const podConfig = (sysctls: Record<string, string> = {}): cri.PodSandboxConfig =>
  ({
    metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 0 },
    port_mappings: [],
    linux: { sysctls },
  }) as unknown as cri.PodSandboxConfig;

describe('PodNetworking', () => {
  let tmp = '';
  let net: PodNetworking;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-podnet-'));
    net = new PodNetworking({
      confDir: path.join(tmp, 'no-conf'),
      binDirs: [],
      netnsDir: path.join(tmp, 'netns'),
      stateDir: path.join(tmp, 'state'),
      logger: nullLogger(),
    });
  });

  after(async () => {
    for (const name of await net.netns.list()) await net.netns.remove(name);
    await net.netns.releaseDir();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('pins the namespace of a running process, keeps it after the process is gone, and tears it down', async () => {
    const child = spawn('unshare', ['--net', '--', 'sleep', '30'], { stdio: 'ignore' });
    try {
      // unshare execs sleep in the same process once the namespace exists.
      const deadline = Date.now() + 5000;
      while ((await fs.readlink(`/proc/${child.pid}/exe`).catch(() => '')).endsWith('/unshare')) {
        assert.ok(Date.now() < deadline, 'unshare did not exec sleep within 5 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      const file = await net.adoptNetns('sb-adopt', child.pid!);
      assert.equal(file, net.netnsPath('sb-adopt'));
      const [own, pinned] = await Promise.all([fs.stat(`/proc/${child.pid}/ns/net`), fs.stat(file)]);
      assert.equal(pinned.ino, own.ino, 'the pin is the process namespace');
      // Pinning again (a retried create) replaces the pin instead of stacking one.
      await net.adoptNetns('sb-adopt', child.pid!);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    assert.ok(await isNetnsMount(net.netnsPath('sb-adopt')), 'the pin outlives the process');
    assert.ok(await net.hasState('sb-adopt'));
    await net.tearDown('sb-adopt', null);
    assert.equal(await isNetnsMount(net.netnsPath('sb-adopt')), false);
    await net.tearDown('sb-adopt', null); // idempotent
  });

  it('refuses a pid that cannot be a pod process', async () => {
    await assert.rejects(net.adoptNetns('sb-bad', 1), InvalidArgumentError);
    await assert.rejects(net.adoptNetns('sb-bad', -5), InvalidArgumentError);
    await assert.rejects(net.adoptNetns('../escape', process.pid), InvalidArgumentError);
  });

  it('leaves no namespace behind when setUp fails (a sysctl the kernel does not have)', async () => {
    await assert.rejects(net.setUp('sb-fail', podConfig({ 'net.crimux.no_such_key': '1' })), /sysctl/);
    assert.equal(await isNetnsMount(net.netnsPath('sb-fail')), false);
  });

  it('leaves no namespace behind when CNI ADD fails (no network config)', async () => {
    await assert.rejects(net.setUp('sb-nocni', podConfig({ 'net.ipv4.ip_forward': '1' })));
    assert.equal(await isNetnsMount(net.netnsPath('sb-nocni')), false);
  });

  it('moves CNI results an older crimux cached per backend into the shared cache', async () => {
    const old = path.join(tmp, 'old-runc-cni');
    const shared = path.join(tmp, 'state', 'cni', 'results');
    await fs.mkdir(path.join(old, 'results'), { recursive: true });
    await fs.mkdir(shared, { recursive: true });
    await fs.writeFile(path.join(old, 'results', 'a-eth0.json'), 'old a');
    await fs.writeFile(path.join(old, 'results', 'b-eth0.json'), 'old b');
    await fs.writeFile(path.join(shared, 'b-eth0.json'), 'shared b');
    await net.importCache(old);
    assert.equal(await fs.readFile(path.join(shared, 'a-eth0.json'), 'utf8'), 'old a');
    assert.equal(await fs.readFile(path.join(shared, 'b-eth0.json'), 'utf8'), 'shared b');
    assert.deepEqual(await fs.readdir(path.join(old, 'results')), []);
    await net.importCache(path.join(tmp, 'never-existed')); // nothing to move is fine
  });
});
