/**
 * A registry chooses the token realm, so crimux does not trust it with the node: realms on loopback hosts other
 * than the endpoint (and link-local / metadata addresses) are refused before any connection, credentials go only
 * to the registry's own host (or a configured realm host) and never over plain http off the machine, a redirected
 * token POST does not carry its body or credentials to another origin, and no error repeats what a token service
 * sent back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorKind } from '../../src/errors';
import { isForbiddenAddress } from '../../src/images/address-guard';
import { credentialsWithheld } from '../../src/images/auth';
import type { Endpoint } from '../../src/images/hosts';
import { FakeRegistry, buildImage } from './fake-registry';
import { newStore, type StoreHarness } from './harness';

const IMG = buildImage([{ 'auth/file': 'x\n' }]);
const PASSWORD = 'realm-pa55word-never-sent';
const BODY_SECRET = 'BODY-SECRET-never-echoed';

interface Seen {
  method: string;
  path: string;
  authorization?: string;
  body: string;
}

/** A loopback HTTP server that records what it receives and answers with `reply`. */
class Recorder {
  readonly seen: Seen[] = [];
  reply: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, res) => {
    res.writeHead(401, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ message: BODY_SECRET }] }));
  };
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      this.seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, body });
      this.reply(req, res);
    });
  });
  port = 0;
  constructor(readonly host: string) {}
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, this.host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const harnesses: StoreHarness[] = [];
const servers: { stop(): Promise<void> }[] = [];
let loop2: Recorder;
let same: Recorder;
let other: Recorder;

before(async () => {
  loop2 = await new Recorder('127.0.0.2').start();
  same = await new Recorder('127.0.0.1').start();
  other = await new Recorder('127.0.0.1').start();
  servers.push(loop2, same, other);
});

after(async () => {
  await Promise.allSettled(harnesses.map((h) => h.cleanup()));
  await Promise.allSettled(servers.map((s) => s.stop()));
});

/** A registry that asks for a token at `realm`, and a store whose request carries credentials. */
async function pullWithRealm(realm: string, auth: { username?: string; password?: string; identity_token?: string }) {
  const reg = await new FakeRegistry({
    images: { 'lib/app:1': IMG },
    auth: { username: 'alice', password: PASSWORD, token: 'tok' },
    realm,
  }).start();
  servers.push(reg);
  const h = newStore({ registries: { '*': { endpoints: [{ url: reg.url }] } } });
  harnesses.push(h);
  await h.store.start();
  const full = {
    username: '',
    password: '',
    auth: '',
    server_address: '',
    identity_token: '',
    registry_token: '',
    ...auth,
  };
  const err = await h.store.pull(h.ctx(20_000), { image: 'example.com/lib/app:1', auth: full }).then(
    () => assert.fail('the pull should fail'),
    (e: Error) => e,
  );
  assert.ok(!err.message.includes(PASSWORD), err.message);
  assert.ok(!err.message.includes(BODY_SECRET), err.message);
  assert.ok(!h.lines.some((l) => l.includes(PASSWORD)));
  return err;
}

const basicCreds = { username: 'alice', password: PASSWORD };

describe('token realms', () => {
  it('refuses a realm on another loopback address before connecting', async () => {
    const err = await pullWithRealm(`http://127.0.0.2:${loop2.port}/token`, basicCreds);
    assert.equal(errorKind(err), 'PermissionDenied', err.message);
    assert.match(err.message, /127\.0\.0\.2.*refused/);
    assert.equal(loop2.seen.length, 0);
  });

  it('refuses a realm on ::1 when the endpoint is 127.0.0.1', async () => {
    const err = await pullWithRealm(`http://[::1]:${same.port}/token`, basicCreds);
    assert.equal(errorKind(err), 'PermissionDenied', err.message);
  });

  it('asks a realm on another host name anonymously: credentials stay with the registry host', async () => {
    same.seen.length = 0;
    const err = await pullWithRealm(`http://localhost:${same.port}/token`, basicCreds);
    assert.equal(errorKind(err), 'PermissionDenied', err.message);
    assert.match(err.message, /withheld from token realm localhost/);
    assert.equal(same.seen.length, 1);
    assert.equal(same.seen[0]?.authorization, undefined);
  });

  it('does not re-send a token POST body to another origin on a 307', async () => {
    other.seen.length = 0;
    same.reply = (_q, res) => {
      res.writeHead(307, { Location: `http://127.0.0.1:${other.port}/steal` });
      res.end();
    };
    const err = await pullWithRealm(`http://127.0.0.1:${same.port}/token`, { identity_token: PASSWORD });
    assert.equal(errorKind(err), 'PermissionDenied', err.message);
    assert.match(err.message, /not re-sent to another origin/);
    assert.equal(other.seen.length, 0);
  });

  it('turns a token POST redirected by 302 into a bare GET without body or credentials', async () => {
    other.seen.length = 0;
    same.reply = (_q, res) => {
      res.writeHead(302, { Location: `http://127.0.0.1:${other.port}/moved` });
      res.end();
    };
    const err = await pullWithRealm(`http://127.0.0.1:${same.port}/token`, { identity_token: PASSWORD });
    assert.equal(errorKind(err), 'PermissionDenied', err.message);
    assert.equal(other.seen.length, 1);
    assert.deepEqual(other.seen[0], { method: 'GET', path: '/moved', authorization: undefined, body: '' });
  });

  it('never repeats what a failing token service sent', async () => {
    same.reply = (_q, res) => {
      res.writeHead(500);
      res.end(BODY_SECRET);
    };
    const err = await pullWithRealm(`http://127.0.0.1:${same.port}/token`, basicCreds);
    assert.equal(errorKind(err), 'Unavailable', err.message);
  });
});

describe('address and credential rules', () => {
  it('forbids loopback, link-local, unspecified and metadata addresses', () => {
    for (const a of [
      '127.0.0.1',
      '127.9.9.9',
      '::1',
      '169.254.169.254',
      'fe80::1',
      '0.0.0.0',
      '::',
      '100.100.100.200',
    ]) {
      assert.equal(isForbiddenAddress(a), true, a);
    }
    assert.equal(isForbiddenAddress('::ffff:169.254.169.254'), true);
    assert.equal(isForbiddenAddress('fd00:ec2::254'), true);
    for (const a of ['10.0.0.1', '192.168.1.1', '8.8.8.8', '2001:db8::1'])
      assert.equal(isForbiddenAddress(a), false, a);
  });

  it('sends credentials only to the registry host or a listed realm, never over plain http off the machine', () => {
    const ep = (base: string, credentialRealms: string[] = []): Endpoint => ({
      base,
      host: new URL(base).host,
      insecureSkipVerify: false,
      isDefault: false,
      credentialRealms,
    });
    const hub = ep('https://registry-1.docker.io', ['auth.docker.io']);
    assert.equal(credentialsWithheld(hub, new URL('https://auth.docker.io/token')), undefined);
    assert.match(credentialsWithheld(hub, new URL('https://evil.example/token')) ?? '', /not the registry host/);
    assert.match(credentialsWithheld(hub, new URL('http://auth.docker.io/token')) ?? '', /plain http/);
    const local = ep('http://127.0.0.1:5000');
    assert.equal(credentialsWithheld(local, new URL('http://127.0.0.1:5001/token')), undefined);
    const lan = ep('http://registry.lan:5000');
    assert.match(credentialsWithheld(lan, new URL('http://registry.lan:5000/token')) ?? '', /plain http/);
    const gitlab = ep('https://registry.gitlab.com', ['gitlab.com']);
    assert.equal(credentialsWithheld(gitlab, new URL('https://gitlab.com/jwt/auth')), undefined);
  });
});
