/**
 * Real CNI round trip as root: a netns from NetnsManager, the shipped conflist (on its own bridge and subnet so
 * it cannot collide with a running crimux), ADD/CHECK/DEL through Debian's plugins, traffic from the host into
 * the pod, and no leftovers (netns, veth, IP reservation, cache, NAT rules). Cleans up in after() on failure too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CniClient,
  NetnsManager,
  execInNetns,
  hasEgressGuard,
  removeEgressGuard,
  spawnInNetns,
} from '../../src/network';
import type { PodNetwork } from '../../src/network';
import { runCommand } from '../../src/host/process';
import { nullLogger } from '../../src/log/logger';

const BRIDGE = 'crimuxt0';
const SUBNET = '10.89.0.0/24';
const GATEWAY = '10.89.0.1';
const NETWORK = 'crimux-test';
const POD_PORT = 8080;
const HOST_PORT = 18089;
const SHIPPED = path.resolve(__dirname, '../../config/cni/10-crimux.conflist');

/** Connect to host:port and return everything the peer sends before closing (bounded). */
function fetchTcp(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect ${host}:${port}: timed out`));
    }, timeoutMs);
    sock.on('data', (b) => (data += b.toString()));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

async function linkExists(name: string): Promise<boolean> {
  return (await runCommand('ip', ['link', 'show', name], { timeoutMs: 10_000 })).code === 0;
}

describe('CNI client with the shipped conflist', () => {
  let tmp = '';
  let confDir = '';
  let stateDir = '';
  let ipamDir = '';
  let netns: NetnsManager;
  let cni: CniClient;
  let server: ChildProcess | undefined;
  const id = `cnitest${process.pid}`;
  let pod: PodNetwork;
  let nsPath = '';
  let podIp = '';
  let hostVeth = '';
  const otherId = `${id}b`;
  let otherPath = '';

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-cni-'));
    confDir = path.join(tmp, 'net.d');
    stateDir = path.join(tmp, 'state');
    ipamDir = path.join(tmp, 'ipam');
    await fs.mkdir(confDir);
    const conf = JSON.parse(await fs.readFile(SHIPPED, 'utf8')) as {
      name: string;
      plugins: Record<string, unknown>[];
    };
    conf.name = NETWORK;
    const bridge = conf.plugins[0] as { bridge: string; ipam: Record<string, unknown> };
    bridge.bridge = BRIDGE;
    bridge.ipam.ranges = [[{ subnet: SUBNET }]];
    bridge.ipam.dataDir = ipamDir;
    await fs.writeFile(path.join(confDir, '10-test.conflist'), JSON.stringify(conf));
    netns = new NetnsManager({ dir: path.join(tmp, 'netns'), logger: nullLogger() });
    cni = new CniClient({ confDir, stateDir, logger: nullLogger() });
    nsPath = await netns.create(id);
    pod = {
      id,
      name: 'web',
      namespace: 'cni-test',
      uid: 'uid-1',
      netns: nsPath,
      portMappings: [{ containerPort: POD_PORT, hostPort: HOST_PORT, protocol: 'TCP' }],
      dns: { servers: ['10.89.0.53'], searches: ['cni-test.svc'] },
    };
  });

  after(async () => {
    server?.kill('SIGKILL');
    const quiet = async (fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch {
        // best effort: the test itself reports what went wrong
      }
    };
    await quiet(() => cni.del(pod));
    await quiet(() => cni.del({ ...pod, id: otherId, netns: otherPath }));
    await quiet(() => netns.remove(id));
    await quiet(() => netns.remove(otherId));
    await quiet(() => netns.releaseDir());
    await quiet(() => runCommand('ip', ['link', 'del', BRIDGE], { timeoutMs: 10_000 }));
    await quiet(() => removeEgressGuard(SUBNET));
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('reports the network ready, and not ready without config or plugins', async () => {
    const ok = await cni.status();
    assert.equal(ok.ready, true, ok.message);
    assert.equal(ok.networkName, NETWORK);

    const empty = await fs.mkdtemp(path.join(tmp, 'empty-'));
    const noConf = await new CniClient({ confDir: empty, stateDir }).status();
    assert.equal(noConf.ready, false);
    assert.equal(noConf.reason, 'NetworkPluginNotReady');
    const noBins = await new CniClient({ confDir, binDirs: [empty], stateDir }).status();
    assert.equal(noBins.ready, false);
    assert.deepEqual([...(noBins.missingPlugins ?? [])].sort(), ['bridge', 'host-local', 'portmap']);
  });

  it('adds the pod: IP inside the netns, egress guard installed', async () => {
    const status = await cni.add(pod);
    assert.equal(status.networkName, NETWORK);
    assert.equal(status.ips.length, 1);
    podIp = status.ips[0] ?? '';
    assert.match(podIp, /^10\.89\.0\.\d+$/);
    assert.notEqual(podIp, GATEWAY);
    assert.ok(status.mac);

    const addr = await execInNetns(nsPath, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { timeoutMs: 10_000 });
    assert.equal(addr.code, 0, addr.stderr);
    assert.match(addr.stdout, new RegExp(`inet ${podIp.replace(/\./g, '\\.')}/24`));
    const route = await execInNetns(nsPath, ['ip', '-4', 'route', 'show', 'default'], { timeoutMs: 10_000 });
    assert.match(route.stdout, new RegExp(`default via ${GATEWAY}`));

    hostVeth = status.result.interfaces?.find((i) => !i.sandbox && i.name !== BRIDGE)?.name ?? '';
    assert.ok(hostVeth, 'result names the host veth');
    assert.ok(await linkExists(hostVeth));
    assert.ok(await hasEgressGuard(SUBNET));
    assert.ok(await fs.stat(path.join(ipamDir, NETWORK, podIp)));
    assert.deepEqual((await cni.cachedStatus(id))?.ips, [podIp]);
  });

  it('carries traffic from the host to the pod, directly and through the host port', async () => {
    const script = `require('net').createServer((s) => s.end('pong\\n')).listen(${POD_PORT}, '0.0.0.0', () => console.log('ready'))`;
    server = spawnInNetns(nsPath, [process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('pod listener did not start in 15 s')), 15_000);
      server?.stdout?.on('data', (b: Buffer) => {
        if (b.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server?.on('exit', (code) => reject(new Error(`pod listener exited with ${code}`)));
    });
    assert.equal(await fetchTcp(podIp, POD_PORT), 'pong\n');
    // portmap DNATs locally originated traffic to a local address (OUTPUT chain), no SNAT needed.
    assert.equal(await fetchTcp(GATEWAY, HOST_PORT), 'pong\n');
  });

  it('connects a second pod to the first over the bridge, and CHECKs both', async () => {
    otherPath = await netns.create(otherId);
    const other: PodNetwork = { id: otherId, name: 'client', namespace: 'cni-test', uid: 'uid-2', netns: otherPath };
    const status = await cni.add(other);
    assert.notEqual(status.ips[0], podIp);
    const connect = `require('net').connect(${POD_PORT}, '${podIp}').on('data', (b) => process.stdout.write(b))`;
    const res = await execInNetns(otherPath, [process.execPath, '-e', connect], { timeoutMs: 15_000 });
    assert.equal(res.stdout, 'pong\n', res.stderr);

    await cni.check(other);
    // Debian 12's portmap (plugins 1.1.1) fails CHECK of an IPv4-only pod with port mappings by looking for
    // IPv6 rules (containernetworking/plugins#819, fixed upstream); accept that one error, nothing else.
    await cni.check(pod).catch((err: Error) => {
      assert.equal(err.name, 'InternalError');
      assert.match(err.message, /cni CHECK portmap .*plugin error \d+: could not check ipv6 dnat/);
    });
    await cni.del(other);
    await netns.remove(otherId);
  });

  it('deletes after a restart with the conf dir gone, twice, leaving nothing behind', async () => {
    // A new client (a restarted daemon) whose conf dir is empty still has the cached config and result.
    const empty = await fs.mkdtemp(path.join(tmp, 'gone-'));
    const restarted = new CniClient({ confDir: empty, stateDir, logger: nullLogger() });
    await restarted.del(pod);
    await restarted.del(pod);
    await cni.del(pod);

    assert.equal(await linkExists(hostVeth), false, 'host veth removed');
    assert.deepEqual(await fs.readdir(path.join(stateDir, 'results')), []);
    const reserved = await fs.readdir(path.join(ipamDir, NETWORK));
    assert.ok(!reserved.some((f) => net.isIP(f) !== 0), `IP reservations left: ${reserved.join(' ')}`);
    const nat = await runCommand('iptables-save', ['-t', 'nat'], { timeoutMs: 10_000 });
    assert.ok(!nat.stdout.includes(id), 'portmap rules of the pod removed');
    await assert.rejects(cni.check(pod), { name: 'NotFoundError' });
  });

  it('removes the netns idempotently', async () => {
    server?.kill('SIGKILL');
    await netns.remove(id);
    await netns.remove(id);
    assert.equal(await netns.exists(id), false);
    await assert.rejects(fs.stat(nsPath), { code: 'ENOENT' });
    assert.deepEqual(await netns.list(), []);
  });

  it('deletes a pod whose netns is gone and that was never added', async () => {
    await cni.del({ ...pod, id: `${id}x` });
    await cni.del({ ...pod, id: `${id}x`, netns: '' });
  });

  it('rejects bad input', async () => {
    await assert.rejects(cni.add({ ...pod, netns: path.join(tmp, 'nope') }), { name: 'InvalidArgumentError' });
    await assert.rejects(cni.add({ ...pod, id: '-bad' }), { name: 'InvalidArgumentError' });
    await assert.rejects(cni.add({ ...pod, name: 'a;b' }), { name: 'InvalidArgumentError' });
    await assert.rejects(netns.create('../x'), { name: 'InvalidArgumentError' });
  });
});
