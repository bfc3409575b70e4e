/**
 * Mount sources that reach crimux's own paths, through the daemon's socket on runc and docker (the check lives in
 * the router, above every backend): ancestors (/, /run, /var, the daemon's own parent dirs), the paths themselves,
 * a /var/run alias and a symlink planted to them. Each must be InvalidArgument before anything is created; a
 * kubelet-like volume next to them still mounts. Also the routing policy: an annotation cannot move a pod out of
 * the handler an operator rule pinned its namespace to, nor choose a handler at all by default.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as s from './env';

const SLOT = 41;
const log = new s.ResultLog('host-paths');

describe('mount sources reaching crimux paths; routing pins', { timeout: 600_000 }, () => {
  let env: s.SecEnv;
  before(async () => {
    env = await s.startSecDaemon(SLOT, {
      routing: {
        rules: [{ name: 'tenants-docker', handler: 'docker', pin: true, match: { namespaces: ['tenants'] } }],
      },
    });
  });
  after(() => env?.cleanup());

  for (const backend of s.BACKENDS) {
    it(`${backend}: ancestors, aliases and symlinks of crimux's paths are refused; a plain volume mounts`, async () => {
      const pod = await s.runPod(env, backend, `mounts-${backend}`);
      const link = path.join(env.dir, `innocent-${backend}`);
      fs.symlinkSync(env.d.stateDir, link);
      const cases: [string, string][] = [
        ['host root /', '/'],
        ['ancestor /run (CRI socket of the shipped config)', '/run'],
        ['ancestor /var', '/var'],
        ['alias /var/run (of /run)', '/var/run'],
        ["ancestor: the daemon's parent dir", path.dirname(env.d.socket)],
        ['the state dir itself', env.d.stateDir],
        ['inside the run dir', path.join(env.d.runDir, backend)],
        ['a symlink to the state dir', link],
        ['below a symlink to the state dir', path.join(link, 'images')],
      ];
      for (const [attack, hostPath] of cases) {
        const config = s.containerConfig(`m-${attack.length}`, ['true'], {
          mounts: [{ container_path: '/host', host_path: hostPath, readonly: true }],
        });
        await assert.rejects(
          s.createContainer(env, pod, config),
          (e: { code?: number; details?: string }) =>
            e.code === 3 && /which no container may mount/.test(e.details ?? ''),
          attack,
        );
        log.record({ attack: `mount source: ${attack}`, backend, outcome: 'refused: InvalidArgument; daemon serving' });
      }
      const vol = path.join(env.dir, `volume-${backend}`);
      fs.mkdirSync(vol);
      fs.writeFileSync(path.join(vol, 'f'), 'volume-ok\n');
      const out = await s.runToExit(
        env,
        pod,
        s.containerConfig('vol', ['cat', '/v/f'], {
          mounts: [{ container_path: '/v', host_path: vol, readonly: true }],
        }),
      );
      assert.match(out, /volume-ok/);
      await s.assertServing(env);
    });
  }

  for (const backend of s.BACKENDS) {
    it(`${backend}: CreateContainer's sandbox_config cannot point the container's log outside the log root`, async () => {
      const pod = await s.runPod(env, backend, `logdir-${backend}`);
      const target = path.join(env.dir, `outside-${backend}`);
      fs.mkdirSync(target);
      const cases: [string, string][] = [
        ['a directory outside the log root', target],
        ["'..' out of the log root", path.join(env.logRoot, '..', path.basename(target))],
      ];
      for (const [attack, dir] of cases) {
        await assert.rejects(
          env.d.rt('CreateContainer', {
            pod_sandbox_id: pod.id,
            config: s.containerConfig('evil', ['true'], { log_path: 'evil.log' }),
            sandbox_config: { ...pod.config, log_directory: dir },
          }),
          (e: { code?: number; details?: string }) =>
            e.code === 3 && /sandbox_config\.log_directory/.test(e.details ?? ''),
          attack,
        );
        log.record({
          attack: `CreateContainer sandbox_config.log_directory: ${attack}`,
          backend,
          outcome: 'refused: InvalidArgument; no log written',
        });
      }
      assert.deepEqual(fs.readdirSync(target), [], 'nothing was written there');
      const listed = await env.d.rt('ListContainers', { filter: { pod_sandbox_id: pod.id } });
      assert.equal(listed.containers.length, 0, 'nothing half-made');
      await s.assertServing(env);
    });
  }

  it('annotations cannot leave a pinned handler, nor choose one under the default policy', async () => {
    const pinned = s.podConfig(env, 'pinned', {
      metadata: { name: 'pinned', namespace: 'tenants', uid: `pin-${process.pid}`, attempt: 0 },
    });
    await assert.rejects(
      env.d.rt('RunPodSandbox', {
        config: { ...pinned, annotations: { 'crimux.io/runtime': 'runc' } },
        runtime_handler: '',
      }),
      (e: { code?: number; details?: string }) => e.code === 9 && /pinned to handler "docker"/.test(e.details ?? ''),
    );
    log.record({
      attack: 'annotation crimux.io/runtime out of a pinned namespace',
      backend: 'docker',
      outcome: 'refused: FailedPrecondition',
    });
    await assert.rejects(
      env.d.rt('RunPodSandbox', { config: pinned, runtime_handler: 'runc' }),
      (e: { code?: number }) => e.code === 9,
    );
    log.record({
      attack: 'runtime_handler out of a pinned namespace',
      backend: 'docker',
      outcome: 'refused: FailedPrecondition',
    });
    const other = s.podConfig(env, 'annotated');
    await assert.rejects(
      env.d.rt('RunPodSandbox', {
        config: { ...other, annotations: { 'crimux.io/runtime': 'docker' } },
        runtime_handler: '',
      }),
      (e: { code?: number; details?: string }) => e.code === 9 && /routing\.annotationPolicy/.test(e.details ?? ''),
    );
    log.record({
      attack: 'annotation routing under the default policy',
      backend: 'runc',
      outcome: 'refused: FailedPrecondition',
    });
    await s.assertServing(env);
  });
});
