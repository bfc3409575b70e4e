/**
 * Port forwarding through the streaming server to real TCP servers on 127.0.0.1 (the fake backend's
 * portForward dials them, as a real one dials inside the pod's network namespace): SPDY with several ports and
 * concurrent connections on one session, SPDY tunneled through a WebSocket (kubectl ≥ 1.30), and plain
 * WebSocket channels; failures reach the error stream; no backend socket outlives its connection.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eventually, startHarness, type Harness } from './clients/harness';
import {
  openForward,
  spdyPortForwardSession,
  tunneledPortForwardSession,
  wsPortForward,
} from './clients/portforward-client';

let h: Harness;
const servers: net.Server[] = [];
let portA = 0;
let portB = 0;

/** Echoes each connection's bytes back prefixed with the server's name, and closes after the client's FIN. */
async function echoServer(name: string): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('data', (d) => sock.write(`${name}:${d.toString()}`));
    sock.on('end', () => sock.end());
    sock.on('error', () => undefined);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return (srv.address() as net.AddressInfo).port;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

before(async () => {
  h = await startHarness();
  portA = await echoServer('A');
  portB = await echoServer('B');
});
after(async () => {
  await h?.close();
  for (const s of servers) s.close();
});

const pfUrl = (ports: number[]): string => h.server.portForward({ backend: h.backend, sandboxId: 'pod1', ports });

for (const mode of ['spdy', 'spdy tunneled in a websocket'] as const) {
  describe(`port forward over ${mode}`, { timeout: 60_000 }, () => {
    const connect = (url: string) => (mode === 'spdy' ? spdyPortForwardSession(url) : tunneledPortForwardSession(url));

    test('two ports, two concurrent connections to one of them, half-close both ways', async () => {
      const session = await connect(pfUrl([]));
      const c1 = await openForward(session, portA, 0);
      const c2 = await openForward(session, portA, 1);
      const c3 = await openForward(session, portB, 2);
      c1.data.write('one');
      c2.data.write('two');
      c3.data.write('three');
      c1.data.end();
      c2.data.end();
      c3.data.end();
      assert.equal(await c1.received, 'A:one');
      assert.equal(await c2.received, 'A:two');
      assert.equal(await c3.received, 'B:three');
      assert.deepEqual(await Promise.all([c1.error, c2.error, c3.error]), ['', '', '']);
      await eventually(() => h.backend.sockets.size === 0, 'backend sockets to close');
      session.close();
      await eventually(() => h.server.sessions === 0, 'the session to end');
    });

    test('a refused connection is reported on the error stream', async () => {
      const session = await connect(pfUrl([]));
      const port = await closedPort();
      const c = await openForward(session, port, 0);
      assert.match(await c.error, new RegExp(`error forwarding port ${port} to pod pod1: .*ECONNREFUSED`));
      session.destroy();
    });
  });
}

describe('port forward over spdy: URL limits', { timeout: 60_000 }, () => {
  test("a port outside the URL's ports is refused on the error stream", async () => {
    const session = await spdyPortForwardSession(pfUrl([portA]));
    const c = await openForward(session, portB, 0);
    assert.match(await c.error, /not one of the ports this URL forwards/);
    const ok = await openForward(session, portA, 1);
    ok.data.end('x');
    assert.equal(await ok.received, 'A:x');
    session.destroy();
  });
});

describe('port forward over plain websocket', { timeout: 60_000 }, () => {
  test('per port a data and an error channel, each opened with the port number', async () => {
    const pf = await wsPortForward(pfUrl([portA, portB]), 'v4.channel.k8s.io', 2);
    await eventually(() => [0, 1, 2, 3].every((ch) => pf.messages(ch).length > 0), 'the port-number messages');
    assert.equal(pf.messages(0)[0]?.readUInt16LE(0), portA);
    assert.equal(pf.messages(1)[0]?.readUInt16LE(0), portA);
    assert.equal(pf.messages(2)[0]?.readUInt16LE(0), portB);
    assert.equal(pf.messages(3)[0]?.readUInt16LE(0), portB);
    pf.send(0, 'hello');
    pf.send(2, 'world');
    assert.equal(await pf.waitFor(0, /A:hello/), 'A:hello');
    assert.equal(await pf.waitFor(2, /B:world/), 'B:world');
    pf.ws.close();
    await eventually(() => h.backend.sockets.size === 0 && h.server.sessions === 0, 'sockets and session to close');
  });

  test('an unreachable port is reported on its error channel', async () => {
    const port = await closedPort();
    const pf = await wsPortForward(pfUrl([port]), 'v4.channel.k8s.io', 1);
    assert.match(await pf.waitFor(1, /error forwarding/), new RegExp(`error forwarding port ${port}`));
    pf.ws.terminate();
  });
});

describe('port forward with a relay-like backend connection (ends, never closes)', { timeout: 60_000 }, () => {
  test('a refused connection ends the data stream and the pair finishes in bounded time', async () => {
    h.backend.relayLike = true;
    try {
      const session = await spdyPortForwardSession(pfUrl([]));
      const port = await closedPort();
      const c = await openForward(session, port, 0);
      // The client waits for the error stream before closing its side, as client-go does for failures.
      assert.equal(await c.error, '');
      assert.equal(await c.received, '');
      const ok = await openForward(session, portA, 1);
      ok.data.write('still');
      ok.data.end();
      assert.equal(await ok.received, 'A:still');
      session.close();
    } finally {
      h.backend.relayLike = false;
    }
  });
});
