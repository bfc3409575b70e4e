/**
 * The registry client's transport as an operator sets it up, end to end on loopback:
 * - a TLS registry (Debian's docker-registry, serving the shared test registry's storage read-only) with a
 *   self-signed CA that demands a client certificate: per-endpoint `ca`, `clientCert`/`clientKey`,
 *   `insecureSkipVerify`, and the system store (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS) in a fresh process;
 * - a tiny CONNECT proxy on loopback that counts its tunnels and forwarded requests: HTTPS_PROXY through a CONNECT
 *   tunnel, HTTP_PROXY by absolute-form requests, NO_PROXY, loopback never proxied, proxy authentication;
 * - the platform chosen from a real image index (images.platform override).
 * The proxy connects only to 127.0.0.1, whatever name it is asked for: registry.crimux.test stands for a registry
 * that only the proxy can reach (the name resolves nowhere on this machine).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureTestRegistry } from '../helpers/registry';
import { MULTIARCH, PAUSE } from '../fixtures/images';
import { newStore, type StoreHarness } from './harness';
import { buildImage, FakeRegistry } from './fake-registry';
import { proxyFromEnv, type Env } from '../../src/images/proxy';
import { loadRoots } from '../../src/images/trust';
import { hostPlatform } from '../../src/images/platform';
import type { RegistriesConfig } from '../../src/images/hosts';
import type { RegistryEndpoint } from '../../src/config/types';
import { errorKind } from '../../src/errors';

const NAME = 'registry.crimux.test';
const dir = mkdtempSync(path.join(os.tmpdir(), 'crimux-transport-'));
const f = (n: string): string => path.join(dir, n);
let plainPort: number;
let tlsPort: number;
let registry: ChildProcess | undefined;
let proxy: CountingProxy;
const harnesses: StoreHarness[] = [];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe', timeout: 30_000 });
}

/** A CA, a server certificate for NAME and 127.0.0.1 signed by it, and a client CA with one client certificate. */
function makeCerts(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-subj',
    '/CN=crimux test CA',
    '-days',
    '2',
  ]);
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('cca.key'),
    '-out',
    f('cca.crt'),
    '-subj',
    '/CN=crimux client CA',
    '-days',
    '2',
  ]);
  writeFileSync(f('server.ext'), `subjectAltName=DNS:${NAME},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [who, ca, ext] of [
    ['server', 'ca', 'server.ext'],
    ['client', 'cca', 'client.ext'],
  ] as const) {
    openssl(['req', '-new', ...ec, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=crimux ${who}`]);
    openssl([
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f(`${ca}.crt`),
      '-CAkey',
      f(`${ca}.key`),
      '-CAcreateserial',
      '-out',
      f(`${who}.crt`),
      '-days',
      '2',
      '-extfile',
      f(ext),
    ]);
  }
  // containerd's single-file `client`: certificate and key in one PEM.
  writeFileSync(f('client.pem'), readFileSync(f('client.crt'), 'utf8') + readFileSync(f('client.key'), 'utf8'));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** docker-registry over TLS with required client certificates, on the shared test registry's storage. */
async function startTlsRegistry(): Promise<void> {
  tlsPort = await freePort();
  const storage = path.join(process.env.CRIMUX_TEST_DIR ?? '/var/lib/crimux-test', 'registry');
  writeFileSync(
    f('registry.yml'),
    [
      'version: 0.1',
      'log: { level: warn, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${storage} }, maintenance: { uploadpurging: { enabled: false } } }`,
      'http:',
      `  addr: 127.0.0.1:${tlsPort}`,
      '  secret: crimux-transport-test',
      '  tls:',
      `    certificate: ${f('server.crt')}`,
      `    key: ${f('server.key')}`,
      `    clientcas: [${f('cca.crt')}]`,
      '',
    ].join('\n'),
  );
  registry = spawn('docker-registry', ['serve', f('registry.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  registry.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const ca = readFileSync(f('ca.crt'));
  const cert = readFileSync(f('client.crt'));
  const key = readFileSync(f('client.key'));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = https.get({ host: '127.0.0.1', port: tlsPort, path: '/v2/', ca, cert, key, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      req.on('timeout', () => req.destroy());
    });
    if (status === 200) return;
    if (registry.exitCode !== null || Date.now() > deadline) throw new Error(`TLS registry did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** A forward proxy on loopback: CONNECT tunnels and absolute-form requests, always to 127.0.0.1. */
class CountingProxy {
  tunnels: string[] = [];
  forwarded: string[] = [];
  /** When set, requests without this Proxy-Authorization get 407. */
  requireAuth: string | undefined;
  port = 0;
  private readonly server = http.createServer((req, res) => this.forward(req, res));
  private readonly sockets = new Set<net.Socket>();

  async start(): Promise<void> {
    this.server.on('connect', (req, client: net.Socket, head: Buffer) => this.tunnel(req, client, head));
    this.server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Cuts every open connection and tunnel (clients' pooled keep-alive tunnels were authorised under old rules). */
  cutAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.cutAll();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private authorised(req: http.IncomingMessage): boolean {
    return !this.requireAuth || req.headers['proxy-authorization'] === this.requireAuth;
  }

  private tunnel(req: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    if (!this.authorised(req)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\n\r\n');
      return;
    }
    const target = req.url ?? '';
    this.tunnels.push(target);
    const port = Number(/:(\d+)$/.exec(target)?.[1]);
    const upstream = net.connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!this.authorised(req)) {
      res.writeHead(407).end();
      return;
    }
    const url = new URL(req.url ?? '/');
    this.forwarded.push(`${req.method} ${url.host}${url.pathname}`);
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const up = http.request(
      { host: '127.0.0.1', port: Number(url.port || 80), path: url.pathname + url.search, method: req.method, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  }
}

function tlsEndpoint(host: string, extra: Partial<RegistryEndpoint> = {}): RegistryEndpoint {
  return {
    url: `https://${host}:${tlsPort}`,
    ca: [f('ca.crt')],
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    ...extra,
  };
}

const every = (ep: RegistryEndpoint): RegistriesConfig => ({ '*': { endpoints: [ep] } });

async function store(registries: RegistriesConfig, env: Env = {}, platform?: string): Promise<StoreHarness> {
  const h = newStore({ registries, proxy: proxyFromEnv(env), ...(platform ? { platform } : {}) });
  harnesses.push(h);
  await h.store.start();
  return h;
}

async function pullFails(h: StoreHarness, image: string, kind: string, message: RegExp): Promise<void> {
  await assert.rejects(h.store.pull(h.ctx(60_000), { image }), (err: Error) => {
    assert.equal(errorKind(err), kind, err.message);
    assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  ({ port: plainPort } = await ensureTestRegistry());
  makeCerts();
  await startTlsRegistry();
  proxy = new CountingProxy();
  await proxy.start();
});

after(async () => {
  for (const h of harnesses) await h.cleanup();
  await proxy?.stop();
  registry?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('per-registry TLS (containerd hosts.toml: ca, client, skip_verify)', () => {
  it('pulls over TLS with the endpoint’s CA and client certificate', async () => {
    const h = await store(every(tlsEndpoint('127.0.0.1')));
    assert.match(await h.store.pull(h.ctx(60_000), { image: PAUSE.ref }), /^sha256:/);
  });

  it('takes a client certificate and key from one PEM file, and a CA as a single path', async () => {
    const h = await store(every({ url: `https://127.0.0.1:${tlsPort}`, ca: f('ca.crt'), clientCert: f('client.pem') }));
    assert.match(await h.store.pull(h.ctx(60_000), { image: PAUSE.ref }), /^sha256:/);
  });

  it('refuses a registry whose CA is not trusted, and says what to do', async () => {
    const { ca: _ca, ...noCa } = tlsEndpoint('127.0.0.1');
    const h = await store(every(noCa));
    await pullFails(
      h,
      PAUSE.ref,
      'Unavailable',
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE: the certificate is not trusted .*"ca"/,
    );
  });

  it('fails when the registry demands a client certificate and none is configured', async () => {
    const h = await store(every({ url: `https://127.0.0.1:${tlsPort}`, ca: [f('ca.crt')] }));
    await pullFails(h, PAUSE.ref, 'Unavailable', /unreachable/);
  });

  it('skips verification with insecureSkipVerify (still offering the client certificate)', async () => {
    const h = await store(
      every({ url: `https://127.0.0.1:${tlsPort}`, insecureSkipVerify: true, clientCert: f('client.pem') }),
    );
    assert.match(await h.store.pull(h.ctx(60_000), { image: PAUSE.ref }), /^sha256:/);
  });

  it('names a missing CA file or a key that does not match, never its content', async () => {
    const h = await store(every(tlsEndpoint('127.0.0.1', { ca: [f('nope.crt')] })));
    await pullFails(h, PAUSE.ref, 'InvalidArgument', /read CA file .*nope\.crt: ENOENT/);
    const h2 = await store(every(tlsEndpoint('127.0.0.1', { clientKey: f('server.key') })));
    await pullFails(h2, PAUSE.ref, 'InvalidArgument', /client certificate .*client\.crt \/ key .*server\.key/);
  });
});

describe('system CA store', () => {
  /** Pulls in a fresh process with `env`; the endpoint has a client certificate but no `ca`. */
  function childPull(env: Record<string, string>): Promise<string> {
    const { ca: _ca, ...noCa } = tlsEndpoint('127.0.0.1');
    const arg = JSON.stringify({
      root: f(`child-${Object.keys(env).join('-')}`),
      registries: every(noCa),
      image: PAUSE.ref,
    });
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) =>
          !/^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|https?_proxy|HTTPS?_PROXY|NO_PROXY|no_proxy)$/.test(k),
      ),
    );
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', path.join(__dirname, 'transport-child.ts'), arg],
        { env: { ...clean, ...env }, timeout: 90_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim())),
      );
    });
  }

  it('reads Node’s roots and the system bundle, each certificate once', () => {
    const { roots, sources } = loadRoots({});
    assert.ok(sources.node > 100, `Node roots: ${sources.node}`);
    assert.equal(sources.systemFile, '/etc/ssl/certs/ca-certificates.crt');
    assert.ok(sources.system > 100, `system roots: ${sources.system}`);
    assert.ok(roots.length < sources.node + sources.system, 'duplicates dropped');
    const withOurs = loadRoots({ SSL_CERT_FILE: f('ca.crt') });
    assert.equal(withOurs.sources.system, 1);
    assert.equal(withOurs.roots.length, sources.node + 1);
  });

  it('trusts a CA in the system store (SSL_CERT_FILE, as Go reads it) without any "ca" setting', async () => {
    writeFileSync(
      f('bundle.crt'),
      readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8') + readFileSync(f('ca.crt'), 'utf8'),
    );
    assert.match(await childPull({ SSL_CERT_FILE: f('bundle.crt') }), /^ok sha256:/);
  });

  it('trusts NODE_EXTRA_CA_CERTS (kept although crimux passes its own root list)', async () => {
    assert.match(await childPull({ NODE_EXTRA_CA_CERTS: f('ca.crt') }), /^ok sha256:/);
  });

  it('trusts neither without them', async () => {
    assert.match(await childPull({}), /^error Unavailable .*UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  });
});

describe('HTTP_PROXY / HTTPS_PROXY / NO_PROXY', () => {
  it('reaches an https registry only the proxy can reach through a CONNECT tunnel, TLS inside', async () => {
    const before = proxy.tunnels.length;
    const h = await store(every(tlsEndpoint(NAME)), { HTTPS_PROXY: proxy.url });
    assert.match(await h.store.pull(h.ctx(60_000), { image: PAUSE.ref }), /^sha256:/);
    const tunnels = proxy.tunnels.slice(before);
    assert.ok(tunnels.length >= 1, 'at least one tunnel');
    assert.deepEqual([...new Set(tunnels)], [`${NAME}:${tlsPort}`]);
    // Keep-alive through the tunnel: a pull's requests share connections, not one tunnel each.
    const requests = 4; // manifest, config, layer, at least
    assert.ok(tunnels.length < requests, `${tunnels.length} tunnels`);
  });

  it('goes direct for a NO_PROXY host (which then does not resolve here)', async () => {
    for (const noProxy of ['crimux.test', '.crimux.test', `${NAME}:${tlsPort}`]) {
      const before = proxy.tunnels.length;
      const h = await store(every(tlsEndpoint(NAME)), { HTTPS_PROXY: proxy.url, NO_PROXY: noProxy });
      await pullFails(h, PAUSE.ref, 'Unavailable', /registry\.crimux\.test.* unreachable: (ENOTFOUND|EAI_AGAIN)/);
      assert.equal(proxy.tunnels.length, before, noProxy);
    }
    // A NO_PROXY for another host or port leaves it proxied.
    const h = await store(every(tlsEndpoint(NAME)), { https_proxy: proxy.url, no_proxy: `other.test,${NAME}:1` });
    assert.match(await h.store.pull(h.ctx(60_000), { image: PAUSE.ref }), /^sha256:/);
  });

  it('never proxies a loopback endpoint', async () => {
    const before = proxy.tunnels.length;
    const h = await store(every(tlsEndpoint('127.0.0.1')), { HTTPS_PROXY: proxy.url });
    assert.match(await h.store.pull(h.ctx(60_000), { image: PAUSE.ref }), /^sha256:/);
    assert.equal(proxy.tunnels.length, before);
  });

  it('sends the proxy URL’s credentials to the proxy; a 407 says so', async () => {
    proxy.requireAuth = 'Basic ' + Buffer.from('node:pa ss').toString('base64');
    proxy.cutAll();
    try {
      const bad = await store(every(tlsEndpoint(NAME)), { HTTPS_PROXY: proxy.url });
      await pullFails(bad, PAUSE.ref, 'Unavailable', /proxy http:\/\/127\.0\.0\.1:\d+: tunnel to .*HTTP 407/);
      const url = `http://node:pa%20ss@127.0.0.1:${proxy.port}`;
      const good = await store(every(tlsEndpoint(NAME)), { HTTPS_PROXY: url });
      assert.match(await good.store.pull(good.ctx(60_000), { image: PAUSE.ref }), /^sha256:/);
    } finally {
      proxy.requireAuth = undefined;
    }
  });

  it('forwards plain http requests to HTTP_PROXY in absolute form', async () => {
    const before = proxy.forwarded.length;
    const h = await store(every({ url: `http://${NAME}:${plainPort}` }), { HTTP_PROXY: proxy.url });
    assert.match(await h.store.pull(h.ctx(60_000), { image: PAUSE.ref }), /^sha256:/);
    const fwd = proxy.forwarded.slice(before);
    assert.ok(
      fwd.some((r) => r.startsWith(`GET ${NAME}:${plainPort}/v2/`)),
      fwd.join('\n'),
    );
    // HTTPS_PROXY does not apply to http:// and HTTP_PROXY not to https://.
    const h2 = await store(every({ url: `http://${NAME}:${plainPort}` }), { HTTPS_PROXY: proxy.url });
    await pullFails(h2, PAUSE.ref, 'Unavailable', /ENOTFOUND|EAI_AGAIN/);
  });
});

describe('token realms through a proxy', () => {
  it('sends a realm hop on another host through the proxy, still under the address guard', async () => {
    // `reg` plays the token service at auth.crimux.test (a host only the proxy reaches); `realmed` the registry.
    const reg = await new FakeRegistry({
      images: { 'lib/app:1': buildImage([{ f: 'x\n' }]) },
      auth: { username: 'u', password: 'p', token: 'tok' },
    }).start();
    try {
      const realmed = await new FakeRegistry({
        images: reg.images,
        auth: { username: 'u', password: 'p', token: 'tok' },
        realm: `http://auth.crimux.test:${reg.port}/token`,
      }).start();
      try {
        const before = proxy.forwarded.length;
        const h = await store(every({ url: `http://${NAME}:${realmed.port}` }), { HTTP_PROXY: proxy.url });
        // No credentials in the request: the token is asked for anonymously and refused by the fake.
        await pullFails(h, 'example.com/lib/app:1', 'PermissionDenied', /token refused/);
        const fwd = proxy.forwarded.slice(before);
        assert.ok(fwd.includes(`GET auth.crimux.test:${reg.port}/token`), fwd.join('\n'));
        // A realm on a loopback literal is never proxied, and the guard refuses it (not the endpoint's address).
        const loop = await new FakeRegistry({
          images: reg.images,
          auth: { username: 'u', password: 'p', token: 'tok' },
          realm: `http://127.0.0.1:${realmed.port}/token`,
        }).start();
        try {
          const h2 = await store(every({ url: `http://${NAME}:${loop.port}` }), { HTTP_PROXY: proxy.url });
          await pullFails(h2, 'example.com/lib/app:1', 'PermissionDenied', /127\.0\.0\.1.*refused/);
        } finally {
          await loop.stop();
        }
      } finally {
        await realmed.stop();
      }
    } finally {
      await reg.stop();
    }
  });
});

describe('platform from an image index', () => {
  const read = async (h: StoreHarness): Promise<string> => {
    const r = await h.store.resolve(h.ctx(), MULTIARCH.ref);
    return readFileSync(path.join(r.layerDirs[r.layerDirs.length - 1] ?? '', 'arch'), 'utf8');
  };
  const plain = (): RegistriesConfig => ({ '*': { endpoints: [{ url: `http://127.0.0.1:${plainPort}` }] } });

  it('pulls the node’s own platform by default', async () => {
    const h = await store(plain());
    await h.store.pull(h.ctx(60_000), { image: MULTIARCH.ref });
    const arch = hostPlatform().architecture as keyof typeof MULTIARCH.archFile;
    assert.equal(await read(h), MULTIARCH.archFile[arch]);
    assert.ok(h.lines.some((l) => l.includes('msg="image store started"') && l.includes(`platform=linux/${arch}`)));
  });

  it('pulls the configured platform (images.platform), arm64 as arm64/v8', async () => {
    const h = await store(plain(), {}, 'linux/arm64/v8');
    await h.store.pull(h.ctx(60_000), { image: MULTIARCH.ref });
    assert.equal(await read(h), MULTIARCH.archFile.arm64);
    const other = await store(plain(), {}, 'linux/s390x');
    await pullFails(
      other,
      MULTIARCH.ref,
      'NotFound',
      /no manifest for linux\/s390x in the index \(has: linux\/amd64, linux\/arm64/,
    );
  });
});
