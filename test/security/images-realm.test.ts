/**
 * Hostile registries through the daemon's socket: a token realm on another loopback address is refused before any
 * connection, credentials are withheld from a realm on another host name, a 307 from the token service does not
 * carry the refresh token to another origin, and no error repeats the password. The daemon keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { grpc } from '../helpers/cri-client';
import type { DaemonHandle } from '../helpers/daemon';
import { FakeRegistry, buildImage } from '../images/fake-registry';
import { HOST, startWithRegistry, stillServing } from './images-daemon';
import { recordOutcome, SHARED_STORE } from './images-results';

const IMG = buildImage([{ 'realm/file': 'x\n' }]);
const GOOD = buildImage([{ 'good/file': 'fine\n' }]);
const PASSWORD = 'daemon-realm-secret';
const GOOD_HOST = 'good.example';

interface Hit {
  host: string;
  authorization?: string;
  body: string;
}
const hits: Hit[] = [];
let redirectTo = '';
const servers: http.Server[] = [];

/** A token service on `host` that records requests; on "/redirect" it answers 307 to `redirectTo`. */
async function tokenService(host: string): Promise<number> {
  const s = http.createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      hits.push({ host, authorization: req.headers.authorization, body });
      if (req.url?.startsWith('/redirect')) res.writeHead(307, { Location: redirectTo });
      else res.writeHead(401);
      res.end(PASSWORD);
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, host, r));
  return (s.address() as AddressInfo).port;
}

const regs: FakeRegistry[] = [];
let d: DaemonHandle;
let good: FakeRegistry;

async function registryWithRealm(realm: string): Promise<FakeRegistry> {
  const r = await new FakeRegistry({
    images: { 'x/app:1': IMG, 'x/good:1': GOOD },
    auth: { username: 'alice', password: PASSWORD, token: 'tok' },
    realm,
  }).start();
  regs.push(r);
  return r;
}

const creds = {
  username: 'alice',
  password: PASSWORD,
  auth: '',
  server_address: '',
  identity_token: '',
  registry_token: '',
};

before(async () => {
  good = await new FakeRegistry({ images: { 'x/good:1': GOOD } }).start();
  regs.push(good);
  d = await startWithRegistry(good);
});

after(async () => {
  await d?.cleanup();
  await Promise.allSettled(regs.map((r) => r.stop()));
  for (const s of servers) s.closeAllConnections();
  await Promise.allSettled(servers.map((s) => new Promise((r) => s.close(r))));
});

/** Re-points the daemon's registry host at `reg` (a restart re-reads the config). */
async function use(reg: FakeRegistry): Promise<void> {
  const fs = await import('node:fs');
  const cfg = JSON.parse(fs.readFileSync(d.configPath, 'utf8')) as { images: { registries: Record<string, unknown> } };
  cfg.images.registries[HOST] = { endpoints: [{ url: reg.url }] };
  cfg.images.registries[GOOD_HOST] = { endpoints: [{ url: good.url }] };
  fs.writeFileSync(d.configPath, JSON.stringify(cfg));
  await d.restart();
}

async function attempt(reg: FakeRegistry, auth: typeof creds, code: number, re: RegExp): Promise<string> {
  await use(reg);
  const err = await d.img('PullImage', { image: { image: `${HOST}/x/app:1` }, auth }, { deadlineMs: 60_000 }).then(
    () => assert.fail('pull should fail'),
    (e: grpc.ServiceError) => e,
  );
  assert.equal(err.code, code, err.details);
  assert.match(err.details, re);
  assert.ok(!err.details.includes(PASSWORD));
  assert.ok(!d.logs().includes(PASSWORD), 'the password reached the daemon log');
  await stillServing(d, `${GOOD_HOST}/x/good:1`);
  return err.details;
}

describe('hostile token realms (daemon socket)', () => {
  it('refuses a realm on another loopback address without connecting', async () => {
    const port = await tokenService('127.0.0.2');
    hits.length = 0;
    const reg = await registryWithRealm(`http://127.0.0.2:${port}/token`);
    await attempt(reg, creds, grpc.status.PERMISSION_DENIED, /127\.0\.0\.2.*refused/);
    assert.deepEqual(hits, []);
    recordOutcome({
      attack: 'token realm on loopback (127.0.0.2)',
      backend: SHARED_STORE,
      outcome: 'refused before connecting',
    });
  });

  it('withholds credentials from a realm on another host name', async () => {
    const port = await tokenService('127.0.0.1');
    hits.length = 0;
    const reg = await registryWithRealm(`http://localhost:${port}/token`);
    await attempt(reg, creds, grpc.status.PERMISSION_DENIED, /withheld/);
    assert.ok(hits.length >= 1);
    assert.ok(hits.every((h) => h.authorization === undefined));
    recordOutcome({
      attack: 'token realm on another host asks for Basic credentials',
      backend: SHARED_STORE,
      outcome: 'credentials withheld (anonymous token request)',
    });
  });

  it('does not follow a 307 of a token POST to another origin', async () => {
    const port = await tokenService('127.0.0.1');
    const thief = await tokenService('127.0.0.1');
    redirectTo = `http://127.0.0.1:${thief}/steal`;
    hits.length = 0;
    const reg = await registryWithRealm(`http://127.0.0.1:${port}/redirect`);
    const identity = { ...creds, username: '', password: '', identity_token: PASSWORD };
    await attempt(reg, identity, grpc.status.PERMISSION_DENIED, /not re-sent to another origin/);
    assert.equal(hits.length, 1, 'only the realm itself was asked');
    recordOutcome({
      attack: 'token POST redirected (307) to another origin',
      backend: SHARED_STORE,
      outcome: 'refused; body and credentials not re-sent',
    });
  });
});
