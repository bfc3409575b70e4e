/**
 * The runtime side of the CNI protocol, seen by recording fake plugins (shell scripts): environment, stdin
 * config, capability injection, prevResult chaining, DEL order, caching, config loading, and errors (the
 * plugin's error object, timeouts, missing binaries). The pod's netns is this process's own (/proc/self/ns/net):
 * the fake plugins never touch it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CniClient, loadNetworkList } from '../../src/network';
import type { PodNetwork } from '../../src/network';

const RECORDER = `#!/bin/sh
# Fake CNI plugin: records its call, then behaves as its name says.
name=$(basename "$0")
stdin=$(cat)
printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$name" "$CNI_COMMAND" "$CNI_NETNS" "$CNI_ARGS" "$CNI_IFNAME" \\
  "$CNI_CONTAINERID" "$CNI_PATH" "$stdin" >>"$FAKE_CNI_LOG"
[ "$CNI_COMMAND" = ADD ] || exit 0
case "$name" in
  fail) printf '{"cniVersion":"1.0.0","code":7,"msg":"boom","details":"why"}'; exit 1 ;;
  slow) exec sleep 30 ;;
  garbage) echo 'not json'; exit 0 ;;
esac
printf '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"address":"fd00::3/64","interface":0},{"address":"10.1.2.3/24","gateway":"10.1.2.1","interface":0}],"by":"%s"}' "$CNI_NETNS" "$name"
`;

interface Call {
  plugin: string;
  command: string;
  netns: string;
  args: string;
  ifName: string;
  id: string;
  cniPath: string;
  conf: Record<string, unknown>;
}

describe('CNI protocol', () => {
  let tmp = '';
  let bin = '';
  let logFile = '';
  let n = 0;
  const pod: PodNetwork = {
    id: 'proto1',
    name: 'web',
    namespace: 'ns1',
    uid: 'u-1',
    netns: '/proc/self/ns/net',
    portMappings: [
      { containerPort: 80, hostPort: 8080, protocol: 'TCP', hostIp: '127.0.0.1' },
      { containerPort: 53, hostPort: 0, protocol: 'UDP' },
    ],
    dns: { servers: ['10.0.0.10'] },
  };

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-cniproto-'));
    bin = path.join(tmp, 'bin');
    await fs.mkdir(bin);
    for (const name of ['ok-a', 'ok-b', 'fail', 'slow', 'garbage']) {
      await fs.writeFile(path.join(bin, name), RECORDER, { mode: 0o755 });
    }
    logFile = path.join(tmp, 'calls.log');
    process.env.FAKE_CNI_LOG = logFile;
  });
  after(async () => {
    delete process.env.FAKE_CNI_LOG;
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  /** A client over a fresh conf dir holding one file. */
  async function client(file: string, conf: unknown, opts: { timeoutMs?: number } = {}): Promise<CniClient> {
    const dir = path.join(tmp, `conf${++n}`);
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, file), typeof conf === 'string' ? conf : JSON.stringify(conf));
    return new CniClient({
      confDir: dir,
      binDirs: [path.join(tmp, 'nothing'), bin],
      stateDir: path.join(tmp, `state${n}`),
      egressGuard: false,
      pluginTimeoutMs: opts.timeoutMs,
    });
  }

  async function calls(): Promise<Call[]> {
    const text = await fs.readFile(logFile, 'utf8').catch(() => '');
    await fs.rm(logFile, { force: true });
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [plugin, command, netns, args, ifName, id, cniPath, conf] = line.split('\t') as string[] as [
          string,
          string,
          string,
          string,
          string,
          string,
          string,
          string,
        ];
        return { plugin, command, netns, args, ifName, id, cniPath, conf: JSON.parse(conf) as Record<string, unknown> };
      });
  }

  const list = (version: string, ...plugins: object[]): object => ({ cniVersion: version, name: 'net1', plugins });

  it('chains ADD, CHECK and DEL as the spec says', async () => {
    const c = await client(
      '10-net.conflist',
      list('1.0.0', { type: 'ok-a', capabilities: { portMappings: true, dns: true }, k: 1 }, { type: 'ok-b' }),
    );
    const status = await c.add(pod);
    assert.deepEqual(status.ips, ['10.1.2.3', 'fd00::3']);
    assert.deepEqual(status.gateways, ['10.1.2.1']);
    assert.equal(status.result.by, 'ok-b');

    const [a, b, ...rest] = await calls();
    assert.equal(rest.length, 0);
    assert.ok(a && b);
    assert.deepEqual([a.plugin, a.command, b.plugin, b.command], ['ok-a', 'ADD', 'ok-b', 'ADD']);
    assert.equal(
      a.args,
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=proto1;K8S_POD_UID=u-1',
    );
    assert.deepEqual(
      [a.netns, a.ifName, a.id, a.cniPath],
      ['/proc/self/ns/net', 'eth0', 'proto1', `${path.join(tmp, 'nothing')}:${bin}`],
    );
    assert.deepEqual(a.conf, {
      type: 'ok-a',
      capabilities: { portMappings: true, dns: true },
      k: 1,
      name: 'net1',
      cniVersion: '1.0.0',
      runtimeConfig: {
        portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }],
        dns: { servers: ['10.0.0.10'], searches: [], options: [] },
      },
    });
    assert.equal(b.conf.runtimeConfig, undefined, 'no capabilities declared, none injected');
    assert.equal((b.conf.prevResult as { by: string }).by, 'ok-a');

    await c.check(pod);
    const checks = await calls();
    assert.deepEqual(
      checks.map((x) => `${x.plugin} ${x.command}`),
      ['ok-a CHECK', 'ok-b CHECK'],
    );
    assert.ok(checks.every((x) => (x.conf.prevResult as { by: string }).by === 'ok-b'));

    // DEL of a pod whose netns is gone: reverse order, cached result, empty CNI_NETNS.
    await c.del({ ...pod, netns: path.join(tmp, 'gone') });
    const dels = await calls();
    assert.deepEqual(
      dels.map((x) => `${x.plugin} ${x.command}`),
      ['ok-b DEL', 'ok-a DEL'],
    );
    assert.ok(dels.every((x) => x.netns === '' && (x.conf.prevResult as { by: string }).by === 'ok-b'));
    assert.equal(await c.cachedStatus(pod.id), undefined);

    await c.del(pod);
    assert.ok(
      (await calls()).every((x) => x.conf.prevResult === undefined),
      'second DEL has no cached result',
    );
    await assert.rejects(c.check(pod), { name: 'NotFoundError' });
  });

  it('passes no prevResult on DEL and skips CHECK before spec 0.4.0', async () => {
    const c = await client('10-net.conflist', list('0.3.1', { type: 'ok-a' }));
    await c.add(pod);
    await calls();
    await c.check(pod);
    assert.deepEqual(await calls(), []);
    await c.del(pod);
    const [d] = await calls();
    assert.equal(d?.conf.prevResult, undefined);
  });

  it('skips CHECK when the list disables it', async () => {
    const c = await client('10-net.conflist', { ...list('1.0.0', { type: 'ok-a' }), disableCheck: true });
    await c.add(pod);
    await calls();
    await c.check(pod);
    assert.deepEqual(await calls(), []);
    await c.del(pod);
    await calls();
  });

  it("reports the plugin's error object and rolls the ADD back", async () => {
    const c = await client('10-net.conflist', list('1.0.0', { type: 'ok-a' }, { type: 'fail' }));
    await assert.rejects(c.add(pod), (err: Error) => {
      assert.equal(err.name, 'InternalError');
      assert.match(err.message, /cni ADD fail for pod ns1\/web \(proto1\): plugin error 7: boom \(why\)/);
      return true;
    });
    const log = await calls();
    assert.deepEqual(
      log.map((x) => `${x.plugin} ${x.command}`),
      ['ok-a ADD', 'fail ADD', 'fail DEL', 'ok-a DEL'],
    );
    assert.equal((log[2]?.conf.prevResult as { by: string }).by, 'ok-a', 'rollback DEL gets what ADD produced');
    assert.equal(await c.cachedStatus(pod.id), undefined);
  });

  it('times out a hanging plugin', async () => {
    const c = await client('10-net.conflist', list('1.0.0', { type: 'slow' }), { timeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(c.add(pod), (err: Error) => {
      assert.equal(err.name, 'DeadlineExceededError');
      assert.match(err.message, /cni ADD slow .*timed out after 300 ms/);
      return true;
    });
    assert.ok(Date.now() - started < 20_000);
    await calls();
  });

  it('rejects an unparsable result and a missing plugin', async () => {
    const g = await client('10-net.conflist', list('1.0.0', { type: 'garbage' }));
    await assert.rejects(g.add(pod), { name: 'InternalError', message: /unparsable result/ });
    const m = await client('10-net.conflist', list('1.0.0', { type: 'nonexistent' }));
    await assert.rejects(m.add(pod), { name: 'UnavailableError', message: /plugin not found/ });
    assert.equal((await m.status()).ready, false);
    await calls();
  });

  it('loads the lexically first valid file, upgrading a .conf', async () => {
    const dir = path.join(tmp, 'multi');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, '00-broken.conflist'), '{ nope');
    await fs.writeFile(
      path.join(dir, '05-single.conf'),
      JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'ok-b', x: 2 }),
    );
    await fs.writeFile(path.join(dir, '10-list.conflist'), JSON.stringify(list('1.0.0', { type: 'ok-a' })));
    await fs.writeFile(path.join(dir, '01-ignored.txt'), 'not a config');
    const l = await loadNetworkList(dir);
    assert.equal(l.name, 'single');
    assert.equal(l.cniVersion, '0.4.0');
    assert.deepEqual(l.plugins, [{ cniVersion: '0.4.0', name: 'single', type: 'ok-b', x: 2 }]);
    await assert.rejects(loadNetworkList(path.join(tmp, 'missing-dir')), { name: 'UnavailableError' });
  });
});
