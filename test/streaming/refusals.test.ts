/**
 * What the streaming server refuses, and that refusing never hurts it: used, expired and unknown tokens get 404
 * (as with the kubelet's streaming server), a request that is not a proper upgrade gets a clean 4xx, a client
 * that never opens its streams is cut off in bounded time, and garbage on an upgraded connection ends only that
 * connection.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connectRc } from './clients/remotecommand-client';
import { rawRequest, spdyUpgrade } from './clients/spdy-client';
import { eventually, startHarness, type Harness } from './clients/harness';

let h: Harness;
before(async () => {
  h = await startHarness({ tokenTtlSeconds: 1, streamCreationTimeoutMs: 500 });
});
after(async () => {
  await h?.close();
});

const execUrl = (): string =>
  h.server.exec({
    backend: h.backend,
    containerId: 'c',
    cmd: ['echo', 'ok'],
    opts: { stdin: false, stdout: true, stderr: false, tty: false },
  });
const V4 = ['v4.channel.k8s.io'];

/** The server still serves a fresh URL after whatever the test did. */
async function stillServes(): Promise<void> {
  const r = await (await connectRc(execUrl(), { transport: 'spdy', protocol: 'v4.channel.k8s.io' })).done;
  assert.equal(r.stdout, 'ok\n');
}

describe('tokens', { timeout: 60_000 }, () => {
  test('a used token is refused with 404', async () => {
    const url = execUrl();
    await (
      await connectRc(url, { transport: 'spdy', protocol: 'v4.channel.k8s.io' })
    ).done;
    const again = await spdyUpgrade(url, { protocols: V4 });
    assert.equal(again.status, 404);
    assert.equal(again.session, undefined);
  });

  test('an expired token is refused with 404', async () => {
    const url = execUrl();
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await spdyUpgrade(url, { protocols: V4 })).status, 404);
  });

  test('unknown tokens, unknown paths and a token under another kind are 404; the latter spends the token', async () => {
    const url = execUrl();
    assert.equal((await spdyUpgrade(url.replace('/exec/', '/attach/'), { protocols: V4 })).status, 404);
    assert.equal((await spdyUpgrade(url, { protocols: V4 })).status, 404);
    assert.equal((await spdyUpgrade(`${h.server.baseUrl}/exec/${'A'.repeat(43)}`, { protocols: V4 })).status, 404);
    assert.equal((await spdyUpgrade(`${h.server.baseUrl}/nope`, { protocols: V4 })).status, 404);
  });
});

describe('malformed upgrades get a clean HTTP error', { timeout: 60_000 }, () => {
  test('no upgrade at all: 400, and the token is spent', async () => {
    const url = execUrl();
    const r = await spdyUpgrade(url, { protocols: V4, method: 'GET', headers: {} });
    assert.equal(r.status, 400);
    assert.match(r.body, /missing upgrade headers/);
    assert.equal((await spdyUpgrade(url, { protocols: V4 })).status, 404);
  });

  test('an unknown Upgrade protocol: 400', async () => {
    const r = await spdyUpgrade(execUrl(), {
      protocols: V4,
      headers: { connection: 'Upgrade', upgrade: 'h2c', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
    });
    assert.equal(r.status, 400);
  });

  test('SPDY without X-Stream-Protocol-Version: 400', async () => {
    const r = await spdyUpgrade(execUrl(), { protocols: V4, headers: { connection: 'Upgrade', upgrade: 'SPDY/3.1' } });
    assert.equal(r.status, 400);
    assert.match(r.body, /X-Stream-Protocol-Version is required/);
  });

  test('SPDY with no protocol in common: 403 listing what is accepted', async () => {
    const r = await spdyUpgrade(execUrl(), { protocols: ['v9.channel.k8s.io'] });
    assert.equal(r.status, 403);
    assert.match(String(r.headers['x-accepted-stream-protocol-versions']), /v4\.channel\.k8s\.io/);
  });

  test('a WebSocket upgrade with a bad key: 400', async () => {
    const path = new URL(execUrl()).pathname;
    const raw = await rawRequest(
      h.server.baseUrl,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: nope\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`,
    );
    assert.match(raw, /^HTTP\/1\.1 400 /);
  });

  test('a WebSocket subprotocol we do not serve: 403', async () => {
    const path = new URL(execUrl()).pathname;
    const raw = await rawRequest(
      h.server.baseUrl,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v9.channel.k8s.io\r\n\r\n`,
    );
    assert.match(raw, /^HTTP\/1\.1 403 /);
  });

  test('WebSocket port forward without ports in the URL or the query: 400', async () => {
    const url = h.server.portForward({ backend: h.backend, sandboxId: 'p', ports: [] });
    const raw = await rawRequest(
      h.server.baseUrl,
      `GET ${new URL(url).pathname} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n`,
    );
    assert.match(raw, /^HTTP\/1\.1 400 .*\r\n[\s\S]*port/);
  });

  test('garbage instead of HTTP: 400, and the server carries on', async () => {
    const raw = await rawRequest(h.server.baseUrl, '\x16\x03\x01 definitely not http\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    await stillServes();
  });

  test('a request target the URL parser rejects: 404, and the server carries on (it used to end the daemon)', async () => {
    // Absolute form with a broken host: Node's HTTP parser passes it on, `new URL()` throws on it.
    const plain = await rawRequest(h.server.baseUrl, 'GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(plain, /^HTTP\/1\.1 404 /);
    const upgrade = await rawRequest(
      h.server.baseUrl,
      'GET http://[/exec/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n',
    );
    assert.match(upgrade, /^HTTP\/1\.1 404 /);
    await stillServes();
  });
});

describe('broken clients after the upgrade', { timeout: 60_000 }, () => {
  test('an idle connection is closed after the idle timeout', async () => {
    const idle = await startHarness({ idleTimeoutMs: 300 });
    try {
      const url = idle.server.portForward({ backend: idle.backend, sandboxId: 'p', ports: [] });
      const up = await spdyUpgrade(url, { protocols: ['portforward.k8s.io'] });
      assert.ok(up.session);
      await new Promise<void>((resolve) => up.session?.once('close', () => resolve()));
      await eventually(() => idle.server.sessions === 0, 'the idle session to end');
    } finally {
      await idle.close();
    }
  });

  test('a client that never opens its streams is cut off (bounded) and nothing runs', async () => {
    const before = h.backend.live.size;
    const up = await spdyUpgrade(execUrl(), { protocols: V4 });
    assert.ok(up.session);
    await new Promise<void>((resolve) => up.session?.once('close', () => resolve()));
    assert.equal(h.backend.live.size, before);
    await eventually(() => h.server.sessions === 0, 'the session to end');
  });

  test('garbage SPDY frames end that connection only', async () => {
    const url = new URL(execUrl());
    const sock = net.connect(Number(url.port), url.hostname);
    sock.on('error', () => undefined);
    await new Promise((r) => sock.once('connect', r));
    sock.write(
      `POST ${url.pathname} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`,
    );
    await new Promise((r) => sock.once('data', r)); // 101
    // A SYN_STREAM whose header block is not zlib at all, then junk.
    sock.write(Buffer.from('800300010000000e00000001000000000000ffffffff', 'hex'));
    sock.write(Buffer.alloc(64, 0xff));
    await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    await eventually(() => h.server.sessions === 0, 'the session to end');
    await stillServes();
  });
});
