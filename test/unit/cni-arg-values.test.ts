import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cniArgsOf } from '../../src/network/cni-types';
import { validateSandboxConfig } from '../../src/router/validate';
import { InvalidArgumentError } from '../../src/errors';

const policy = { logRoot: '', mountSourceDenyList: [] };

function sandbox(name: string, namespace = 'default', uid = 'u1'): Parameters<typeof validateSandboxConfig>[0] {
  return { metadata: { name, namespace, uid, attempt: 0 }, labels: {}, annotations: {}, hostname: '' } as never;
}

test('the CNI_ARGS injection this guards against: a ";" in a name adds a key of the author\'s choosing', () => {
  const pairs = cniArgsOf({ id: 'x', name: 'web;IP=10.88.0.7', namespace: 'default', uid: 'u' } as never);
  const env = pairs.map(([k, v]) => `${k}=${v}`).join(';');
  assert.ok(env.split(';').includes('IP=10.88.0.7'));
});

test('pod names, namespaces and uids with ";" or "=" are refused before anything is created', () => {
  for (const cfg of [sandbox('web;IP=10.88.0.7'), sandbox('web', 'ns;X=1'), sandbox('web', 'default', 'a=b')]) {
    assert.throws(
      () => validateSandboxConfig(cfg, policy),
      (e: unknown) => e instanceof InvalidArgumentError && /CNI_ARGS separators/.test(e.message),
    );
  }
  assert.doesNotThrow(() => validateSandboxConfig(sandbox('web-0', 'kube-system', '0c1d-2e3f'), policy));
});
