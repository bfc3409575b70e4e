import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegistryHosts, fromAuthConfig } from '../../src/images/hosts';
import type { AuthConfig } from '../../src/cri/types';
import { InvalidArgumentError } from '../../src/errors';
import { loadConfig } from '../../src/config/load';

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

  it('carries per-endpoint TLS files (ca as a path or a list) to the endpoint', () => {
    const hosts = new RegistryHosts({
      'a.io': {
        endpoints: [
          { url: 'https://m1', ca: '/etc/c/ca.crt', clientCert: '/etc/c/n.crt', clientKey: '/etc/c/n.key' },
          { url: 'https://m2', ca: ['/etc/c/a.crt', '/etc/c/b.crt'], clientCert: '/etc/c/n.pem' },
          { url: 'https://m3' },
        ],
      },
    });
    const [e1, e2, e3] = hosts.endpoints('a.io');
    assert.deepEqual([e1?.ca, e1?.clientCert, e1?.clientKey], [['/etc/c/ca.crt'], '/etc/c/n.crt', '/etc/c/n.key']);
    assert.deepEqual(
      [e2?.ca, e2?.clientCert, e2?.clientKey],
      [['/etc/c/a.crt', '/etc/c/b.crt'], '/etc/c/n.pem', undefined],
    );
    assert.deepEqual([e3?.ca, e3?.clientCert], [undefined, undefined]);
  });

  it('validates the TLS keys and images.platform when the config loads', () => {
    const load = (registries: unknown, platform = ''): unknown =>
      loadConfig({ env: {}, overrides: { 'images.registries': registries, 'images.platform': platform } });
    const ok = { 'a.io': { endpoints: [{ url: 'https://m', ca: ['/x/ca.crt'], clientCert: '/x/c.pem' }] } };
    assert.doesNotThrow(() => load(ok, 'linux/arm64/v8'));
    const bad: [unknown, RegExp][] = [
      [{ 'a.io': { endpoints: [{ url: 'https://m', ca: 'rel/ca.crt' }] } }, /ca: must be an absolute path/],
      [{ 'a.io': { endpoints: [{ url: 'https://m', ca: [1] }] } }, /ca: must be a list of strings/],
      [{ 'a.io': { endpoints: [{ url: 'https://m', clientKey: '/k' }] } }, /clientKey: needs clientCert/],
      [{ 'a.io': { endpoints: [{ url: 'http://m', ca: '/x' }] } }, /https:\/\/ endpoints only/],
      [{ 'a.io': { endpoints: [{ url: 'https://m', client: '/x' }] } }, /unknown key "client"/],
    ];
    for (const [registries, message] of bad) assert.throws(() => load(registries), message);
    assert.throws(() => load({}, 'arm64'), /images.platform.*os\/architecture/);
    assert.throws(() => load({}, 'linux/arm/v7/x'), /os\/architecture/);
    assert.equal(loadConfig({ env: { CRIMUX_IMAGE_PLATFORM: 'linux/arm/v7' } }).images.platform, 'linux/arm/v7');
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
