import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkMountSource, protectedConflict, protectedHostPaths } from '../../src/router/mount-sources';
import { validateContainerConfig } from '../../src/router/validate';
import { InvalidArgumentError } from '../../src/errors';
import { loadConfig } from '../../src/config/load';

function fixture(): { root: string; state: string; run: string; sock: string; done: () => void } {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-mnt-')));
  const state = path.join(root, 'var', 'lib', 'crimux');
  const run = path.join(root, 'run', 'crimux');
  fs.mkdirSync(state, { recursive: true });
  fs.mkdirSync(run, { recursive: true });
  fs.mkdirSync(path.join(root, 'var', 'lib', 'kubelet', 'pods', 'uid1', 'volumes'), { recursive: true });
  fs.symlinkSync(path.join(root, 'run'), path.join(root, 'var', 'run'));
  fs.symlinkSync(state, path.join(root, 'innocent'));
  const sock = path.join(run, 'crimux.sock');
  fs.writeFileSync(sock, '');
  return { root, state, run, sock, done: () => fs.rmSync(root, { recursive: true, force: true }) };
}

test('ancestors, equal paths, children and symlink aliases of protected paths are refused', () => {
  const f = fixture();
  try {
    const deny = [f.state, f.run];
    for (const p of [
      '/',
      f.root,
      path.join(f.root, 'run'),
      path.join(f.root, 'var', 'lib'),
      f.state,
      path.join(f.state, 'images'),
      path.join(f.state, 'not', 'yet', 'there'),
      path.join(f.root, 'var', 'run', 'crimux'),
      path.join(f.root, 'var', 'run'),
      path.join(f.root, 'innocent'),
      path.join(f.root, 'innocent', 'backends'),
      `${f.state}/../crimux/.`,
    ]) {
      assert.ok(protectedConflict(p, deny), `${p} must be refused`);
      assert.throws(() => checkMountSource('config.mounts[0].host_path', p, deny), InvalidArgumentError);
    }
  } finally {
    f.done();
  }
});

test('what the kubelet mounts for ordinary pods stays allowed', () => {
  const f = fixture();
  try {
    const deny = [f.state, f.run, f.sock];
    for (const p of [
      path.join(f.root, 'var', 'lib', 'kubelet', 'pods', 'uid1', 'volumes'),
      path.join(f.root, 'var', 'lib', 'kubelet', 'pods', 'uid1', 'etc-hosts'),
      path.join(f.root, 'var', 'lib', 'crimux2'),
      path.join(f.root, 'run', 'other'),
      '/dev',
      '/sys',
      '/etc/hosts',
    ]) {
      assert.equal(protectedConflict(p, deny), undefined, `${p} must stay allowed`);
    }
  } finally {
    f.done();
  }
});

test('the daemon protects its own socket, state, run, netns dirs and backend sockets by default', () => {
  const config = loadConfig({ env: {} });
  const paths = protectedHostPaths(config);
  for (const p of ['/run/crimux/crimux.sock', '/var/lib/crimux', '/run/crimux', '/run/crimux/netns']) {
    assert.ok(paths.includes(p), `${p} in ${paths.join(',')}`);
  }
  // /var/run is an alias of /run on Debian: the docker socket and crimux's run dir are reached through it too.
  assert.ok(protectedConflict('/var/run', paths));
  assert.ok(protectedConflict('/run', paths));
  assert.ok(protectedConflict('/var', paths));
});

test('validateContainerConfig names the mount and the protected path', () => {
  const f = fixture();
  try {
    const config = {
      metadata: { name: 'c', attempt: 0 },
      image: { image: 'busybox' },
      labels: {},
      annotations: {},
      command: [],
      args: [],
      envs: [],
      mounts: [{ container_path: '/host', host_path: path.join(f.root, 'var', 'run'), readonly: true }],
    } as unknown as Parameters<typeof validateContainerConfig>[0];
    assert.throws(
      () => validateContainerConfig(config, null, { logRoot: '', mountSourceDenyList: [f.run] }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /mounts\[0\]\.host_path/.test(e.message) && /contains/.test(e.message),
    );
  } finally {
    f.done();
  }
});
