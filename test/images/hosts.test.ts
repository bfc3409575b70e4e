import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegistryHosts, fromAuthConfig } from '../../src/images/hosts';
import type { AuthConfig } from '../../src/cri/types';
import { InvalidArgumentError } from '../../src/errors';

const dir = mkdtempSync(path.join(os.tmpdir(), 'crimux-hosts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function authConfig(fields: Partial<AuthConfig>): AuthConfig {
  return {
    username: '',
    password: '',
    auth: '',
    server_address: '',
    identity_token: '',
    registry_token: '',
    ...fields,
  };
}

describe('registry hosts', () => {
  it('uses the host itself only when it has no configuration (docker.io → registry-1.docker.io)', () => {
    const hosts = new RegistryHosts({});
    assert.deepEqual(hosts.endpoints('docker.io'), [
      {
        base: 'https://registry-1.docker.io',
        host: 'registry-1.docker.io',
        insecureSkipVerify: false,
        isDefault: true,
        credentialRealms: ['auth.docker.io'],
      },
    ]);
    assert.equal(hosts.endpoints('quay.io')[0]?.base, 'https://quay.io');
  });

  it('replaces a configured host by its endpoints, in order, with no fallback to the host', () => {
    const hosts = new RegistryHosts({
      'registry.k8s.io': {
        endpoints: [
          { url: 'http://127.0.0.1:5000/' },
          { url: 'https://mirror.example:8443/prefix/', insecureSkipVerify: true },
        ],
      },
    });
    const eps = hosts.endpoints('registry.k8s.io');
    assert.deepEqual(
      eps.map((e) => [e.base, e.host, e.insecureSkipVerify, e.isDefault]),
      [
        ['http://127.0.0.1:5000', '127.0.0.1:5000', false, false],
        ['https://mirror.example:8443/prefix', 'mirror.example:8443', true, false],
      ],
    );
    assert.ok(!eps.some((e) => e.host === 'registry.k8s.io'));
  });

  it('applies "*" to every host without its own entry', () => {
    const hosts = new RegistryHosts({
      '*': { endpoints: [{ url: 'http://127.0.0.1:5000' }] },
      'quay.io': { endpoints: [{ url: 'http://127.0.0.1:6000' }] },
    });
    assert.equal(hosts.endpoints('docker.io')[0]?.base, 'http://127.0.0.1:5000');
    assert.equal(hosts.endpoints('quay.io')[0]?.base, 'http://127.0.0.1:6000');
  });

  it('refuses credentials in endpoint URLs', () => {
    const hosts = new RegistryHosts({ 'a.io': { endpoints: [{ url: 'http://u:secretpw@127.0.0.1:5000' }] } });
    assert.throws(
      () => hosts.endpoints('a.io'),
      (err: unknown) => err instanceof InvalidArgumentError && !err.message.includes('secretpw'),
    );
  });

  it('reads every documented credentials file form; request credentials win', async () => {
    const forms: [unknown, object][] = [
      [
        { username: 'u', password: 'p' },
        { username: 'u', password: 'p' },
      ],
      [{ auth: Buffer.from('u2:p:2').toString('base64') }, { username: 'u2', password: 'p:2' }],
      [{ identityToken: 'idt' }, { identityToken: 'idt' }],
      [{ registryToken: 'rt' }, { registryToken: 'rt' }],
    ];
    for (const [i, [content, want]] of forms.entries()) {
      const file = path.join(dir, `creds-${i}.json`);
      writeFileSync(file, JSON.stringify(content));
      const hosts = new RegistryHosts({
        'a.io': { endpoints: [{ url: 'http://127.0.0.1:1' }], credentialsFile: file },
      });
      assert.deepEqual(await hosts.credentials('a.io'), want);
      assert.deepEqual(await hosts.credentials('a.io', authConfig({ username: 'req', password: 'rp' })), {
        username: 'req',
        password: 'rp',
      });
    }
  });

  it('names the file but never its content when it is unusable', async () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{"password": "hunter2"');
    const hosts = new RegistryHosts({ 'a.io': { endpoints: [{ url: 'http://127.0.0.1:1' }], credentialsFile: file } });
    await assert.rejects(hosts.credentials('a.io'), (err: Error) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, /broken\.json/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
    const missing = new RegistryHosts({
      'a.io': { endpoints: [{ url: 'http://x' }], credentialsFile: path.join(dir, 'nope') },
    });
    await assert.rejects(missing.credentials('a.io'), /ENOENT/);
  });

  it('maps the CRI AuthConfig (empty proto defaults mean no credentials)', () => {
    assert.equal(fromAuthConfig(authConfig({})), undefined);
    assert.deepEqual(fromAuthConfig(authConfig({ auth: Buffer.from('a:b').toString('base64') })), {
      username: 'a',
      password: 'b',
    });
    assert.deepEqual(fromAuthConfig(authConfig({ identity_token: 'x', registry_token: 'y' })), {
      identityToken: 'x',
      registryToken: 'y',
    });
  });
});
