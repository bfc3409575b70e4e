/**
 * The pod-manager contract against the real-rkt manager driving test/rkt/fixtures/fake-rkt — the only way to test
 * real-rkt mode here (no rkt exists for Debian 12). Plus what only the fake can show: rktlet's exact command lines,
 * the experiment environment, and the idempotent-stop classification of rkt's messages.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RktCliPodManager } from '../../src/backends/rkt/rkt-cli/manager';
import { RktRunner } from '../../src/backends/rkt/rkt-cli/runner';
import { nullLogger } from '../../src/log/logger';
import { appSpec, podManagerContract } from './contract';

const FAKE = path.resolve(__dirname, 'fixtures', 'fake-rkt');
const IMAGE = 'docker.io/library/busybox:1.36';

async function fakeManager(tag: string): Promise<{ pm: RktCliPodManager; dir: string; cleanup(): Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `crimux-fake-rkt-${tag}-`));
  const runner = new RktRunner({ path: FAKE, dataDir: path.join(dir, 'data'), timeoutMs: 30_000 });
  const pm = new RktCliPodManager(runner, {
    stage1Name: '',
    sandboxDir: path.join(dir, 'sandbox'),
    readyTimeoutMs: 20_000,
    log: nullLogger(),
  });
  return {
    pm,
    dir,
    cleanup: async () => {
      // The fake's `app sandbox` processes stand in for stage1s: none may outlive the test.
      const state = JSON.parse(
        await fs.readFile(path.join(dir, 'data', 'fake-rkt-state.json'), 'utf8').catch(() => '{"pods":{}}'),
      ) as {
        pods: Record<string, { pid: number }>;
      };
      for (const p of Object.values(state.pods)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

podManagerContract({
  name: 'real-rkt manager against the fake rkt',
  realApps: false,
  open: async () => {
    const f = await fakeManager('contract');
    return { pm: f.pm, image: IMAGE, network: { kind: 'rkt', name: 'default' }, cleanup: f.cleanup };
  },
});

describe('real-rkt manager: rktlet command lines against the fake rkt', () => {
  let f: Awaited<ReturnType<typeof fakeManager>>;
  const calls = async (): Promise<{ argv: string[]; env: Record<string, string> }[]> =>
    (await fs.readFile(path.join(f.dir, 'data', 'fake-rkt-calls.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { argv: string[]; env: Record<string, string> });
  const last = async (sub: string): Promise<string[]> => {
    const all = (await calls()).filter((c) => c.argv.includes(sub));
    return all[all.length - 1]?.argv ?? [];
  };

  before(async () => {
    f = await fakeManager('argv');
  });
  after(async () => {
    await f.cleanup();
  });

  it('puts the global flags after the first word and enables the app experiment, as rktlet did', async () => {
    await f.pm.imageFetch(IMAGE);
    const c = (await calls())[0];
    assert.deepEqual(c?.argv, [
      'image',
      '--debug=false',
      `--dir=${path.join(f.dir, 'data')}`,
      '--insecure-options=image,ondisk',
      'fetch',
      '--pull-policy=update',
      '--full=true',
      `docker://${IMAGE}`,
    ]);
    assert.equal(c?.env.RKT_EXPERIMENT_APP, 'true');
    assert.equal(c?.env.RKT_EXPERIMENT_ATTACH, 'true');
  });

  it('app sandbox and app add carry the reserved annotations, CRI log settings and exec arguments', async () => {
    const uuid = await f.pm.sandbox({
      userAnnotations: { 'k8s.io/reserved/pod-uid': 'u1' },
      userLabels: { app: 'x' },
      hostname: 'web',
      dns: { servers: ['10.0.0.10'], searches: ['svc.local'], options: ['ndots:5'] },
      network: { kind: 'rkt', name: 'default' },
      logDirectory: '/var/log/pods/x',
    });
    const sb = await last('sandbox');
    assert.ok(sb.some((a) => a.startsWith('--uuid-file-save=')));
    for (const want of [
      '--annotation=coreos.com/rkt/experiment/logmode=k8s-plain',
      '--annotation=coreos.com/rkt/experiment/kubernetes-log-dir=/var/log/pods/x',
      '--hostname=web',
      '--dns=10.0.0.10',
      '--dns-search=svc.local',
      '--dns-opt=ndots:5',
      '--net=default',
      '--user-annotation=k8s.io/reserved/pod-uid=u1',
      '--user-label=app=x',
    ]) {
      assert.ok(sb.includes(want), `missing ${want} in ${sb.join(' ')}`);
    }
    await f.pm.appAdd(
      uuid,
      appSpec('0-web', IMAGE, ['/bin/httpd', '-f', '-p', '80'], {
        logPath: 'web/0.log',
        uid: 33,
        gid: 33,
        supplementaryGids: [33, 100],
        capsRetain: ['CAP_NET_BIND_SERVICE'],
        resources: { cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimitBytes: 64 << 20 },
        mounts: [{ name: 'v0', hostPath: '/srv', containerPath: '/data', readOnly: true }],
      }),
    );
    const add = await last('add');
    const tail = add.slice(add.indexOf('add'));
    assert.deepEqual(tail.slice(0, 4), ['add', uuid, IMAGE, '--name=0-web']);
    for (const want of [
      '--cpu-shares=512',
      '--cpu=500m',
      `--memory=${64 << 20}`,
      '--caps-retain=CAP_NET_BIND_SERVICE',
      '--user=33',
      '--group=33',
      '--supplementary-gids=33,100',
      '--stdout=stream',
      '--annotation=coreos.com/rkt/experiment/kubernetes-log-path=web/0.log',
      '--mnt-volume=name=v0,kind=host,source=/srv,target=/data,readOnly=true',
      '--exec=/bin/httpd',
    ]) {
      assert.ok(tail.includes(want), `missing ${want}`);
    }
    assert.deepEqual(tail.slice(-5), ['--', '-f', '-p', '80', '---']);
    await f.pm.stop(uuid, true);
    await f.pm.rm(uuid);
  });

  it('stop: "already stopped" and "no matches" count as success; status of a missing pod is NotFound', async () => {
    const uuid = await f.pm.sandbox({ userAnnotations: {}, userLabels: {}, network: { kind: 'host' } });
    assert.ok((await last('sandbox')).includes('--net=host'));
    await f.pm.stop(uuid, false);
    await f.pm.stop(uuid, false);
    await f.pm.stop('00000000-0000-4000-8000-000000000001', true);
    const stops = (await calls()).filter((c) => c.argv.includes('stop') && c.argv.includes(uuid));
    assert.equal(stops.length, 2);
    assert.deepEqual(stops[0]?.argv.slice(-2), ['--force=false', uuid]);
    await f.pm.rm(uuid);
  });
});
