/**
 * Router rules every backend inherits (issue #16): an empty PodSandboxConfig.hostname becomes the node's before
 * any backend sees it (RunPodSandbox and the sandbox config of CreateContainer), and RunAsGroup without a user
 * is refused as InvalidArgument naming the field, on the pod and on the container, with nothing recorded.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/errors';
import { withPodDefaults } from '../../src/router/pod-defaults';
import { containerConfig, podConfig, routerFixture } from '../helpers/router-fixture';

test('an empty hostname becomes the node hostname; a given one is kept', () => {
  const name = 'create-PodSandbox-for-container-0a1b2c3d-4e5f-6789-abcd-ef0123456789';
  assert.equal(withPodDefaults(podConfig(name), () => 'node-1').hostname, 'node-1');
  assert.equal(withPodDefaults(podConfig(name, { hostname: 'web' }), () => 'node-1').hostname, 'web');
});

test('backends receive the node hostname for pods and containers sent without one', async () => {
  const f = routerFixture();
  try {
    const id = await f.router.sandboxes.run(f.ctx(), podConfig('no-hostname'), 'runc');
    const runc = f.backends.get('runc');
    assert.ok(runc);
    assert.equal(runc.sandboxes.get(id)?.config.hostname, os.hostname());
    const seen: string[] = [];
    const create = runc.createContainer.bind(runc);
    runc.createContainer = async (ctx, req) => {
      seen.push(req.sandboxConfig.hostname);
      return create(ctx, req);
    };
    await f.router.containers.create(f.ctx(), id, containerConfig('c'), podConfig('no-hostname'));
    assert.deepEqual(seen, [os.hostname()]);
  } finally {
    f.close();
  }
});

test('RunAsGroup without RunAsUser is refused on the pod and on the container, naming the field', async () => {
  const f = routerFixture();
  try {
    const groupOnly = { security_context: { run_as_group: { value: '3000' }, run_as_user: null } };
    const field = /config\.linux\.security_context\.run_as_group/;
    await assert.rejects(f.router.sandboxes.run(f.ctx(), podConfig('g', { linux: groupOnly }), ''), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, field);
      return true;
    });
    assert.equal(f.store.listSandboxes().length, 0);
    const id = await f.router.sandboxes.run(f.ctx(), podConfig('ok'), '');
    const ctr = (sc: Record<string, unknown>) => containerConfig('c', { linux: { security_context: sc } });
    await assert.rejects(
      f.router.containers.create(f.ctx(), id, ctr(groupOnly.security_context), podConfig('ok')),
      field,
    );
    assert.equal(f.store.listContainers().length, 0);
    // With a user (by uid or by name) the group is fine.
    const withUid = { run_as_group: { value: '3000' }, run_as_user: { value: '1000' } };
    await f.router.containers.create(f.ctx(), id, ctr(withUid), podConfig('ok'));
    const withName = containerConfig('d', {
      linux: { security_context: { ...groupOnly.security_context, run_as_username: 'www-data' } },
    });
    await f.router.containers.create(f.ctx(), id, withName, podConfig('ok'));
  } finally {
    f.close();
  }
});
