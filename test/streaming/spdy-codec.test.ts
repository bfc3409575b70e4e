/**
 * Unit tests of the SPDY/3.1 layer: frame layout, header blocks (stored and real zlib, both directions), and a
 * client/server session pair over a real TCP connection — including a transfer far past the 64 KiB initial
 * window with no WINDOW_UPDATE from the peer, which is how moby/spdystream (kubelet, client-go) behaves.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { SPDY3_DICTIONARY } from '../../src/streaming/spdy/dictionary';
import {
  FrameParser,
  SpdyProtocolError,
  encodeData,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  type Frame,
} from '../../src/streaming/spdy/frames';
import {
  HeaderInflater,
  StoredHeaderDeflater,
  ZlibHeaderDeflater,
  decodeHeaderBlock,
  encodeHeaderBlock,
} from '../../src/streaming/spdy/header-codec';
import { SpdySession } from '../../src/streaming/spdy/session';
import type { SpdyStream } from '../../src/streaming/spdy/stream';
import { readAll } from './clients/portforward-client';

describe('frames', () => {
  test('every frame we send parses back, even fed one byte at a time', () => {
    const wire = Buffer.concat([
      encodeSynStream(1, Buffer.from('hdr'), { fin: true, priority: 3 }),
      encodeSynReply(2, Buffer.from('r')),
      encodeData(3, Buffer.from('payload'), true),
      encodeData(5, Buffer.alloc(0), false),
      encodeRstStream(7, 5),
      encodePing(9),
      encodeGoAway(11, 0),
      encodeWindowUpdate(0, 65536),
    ]);
    const parser = new FrameParser();
    const frames: Frame[] = [];
    for (const b of wire) frames.push(...parser.push(Buffer.of(b)));
    assert.deepEqual(
      frames.map((f) => f.kind),
      ['syn_stream', 'syn_reply', 'data', 'data', 'rst_stream', 'ping', 'goaway', 'window_update'],
    );
    const syn = frames[0];
    assert.ok(syn?.kind === 'syn_stream');
    assert.equal(syn.streamId, 1);
    assert.equal(syn.priority, 3);
    assert.equal(syn.fin, true);
    assert.equal(syn.block.toString(), 'hdr');
    const data = frames[2];
    assert.ok(data?.kind === 'data');
    assert.equal(data.data.toString(), 'payload');
    assert.equal(data.fin, true);
    const rst = frames[4];
    assert.ok(rst?.kind === 'rst_stream' && rst.status === 5 && rst.streamId === 7);
    const wu = frames[7];
    assert.ok(wu?.kind === 'window_update' && wu.streamId === 0 && wu.delta === 65536);
  });

  test('GOAWAY is 8 bytes of payload, as the Go framer insists', () => {
    const g = encodeGoAway(3, 0);
    assert.equal(g.length, 16);
    assert.equal(g.readUIntBE(5, 3), 8);
  });

  test('a frame above the size limit is a protocol error', () => {
    const parser = new FrameParser(1024);
    assert.throws(() => parser.push(encodeData(1, Buffer.alloc(2048), false)), SpdyProtocolError);
  });

  test('unknown control frame types are ignored, not fatal', () => {
    const f = Buffer.from('8003000a0000000400000000', 'hex');
    assert.deepEqual(
      new FrameParser().push(f).map((x) => x.kind),
      ['unknown'],
    );
  });
});

describe('header blocks', () => {
  test('the SPDY/3 dictionary has the size of the spec (1423 bytes)', () => {
    assert.equal(SPDY3_DICTIONARY.length, 1423);
  });

  test('stored blocks are a valid zlib stream that names the SPDY dictionary', () => {
    const d = new StoredHeaderDeflater();
    const wire = Buffer.concat([
      d.deflate(encodeHeaderBlock({ a: 'b' })),
      d.deflate(encodeHeaderBlock({ StreamType: 'error' })),
    ]);
    const raw = zlib.inflateSync(wire, { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.equal(raw.length, 2 * 4 + (4 + 1 + 4 + 1) + (4 + 10 + 4 + 5));
    assert.throws(() =>
      zlib.inflateSync(wire, { dictionary: Buffer.from('wrong'), finishFlush: zlib.constants.Z_SYNC_FLUSH }),
    );
  });

  test("every stored block ends with the sync-flush marker Go's inflater needs to hand out the bytes", () => {
    const d = new StoredHeaderDeflater();
    for (let i = 0; i < 3; i++)
      assert.deepEqual([...d.deflate(encodeHeaderBlock({})).subarray(-5)], [0, 0, 0, 0xff, 0xff]);
  });

  test('real compression (as Go sends it) inflates block after block on one context', async () => {
    const d = new ZlibHeaderDeflater();
    const inf = new HeaderInflater();
    try {
      for (let i = 0; i < 50; i++) {
        const h = await inf.inflate(
          await d.deflate(encodeHeaderBlock({ streamType: 'data', port: String(8000 + i), requestID: String(i) })),
        );
        assert.deepEqual(
          [...h],
          [
            ['streamtype', ['data']],
            ['port', [String(8000 + i)]],
            ['requestid', [String(i)]],
          ],
        );
      }
    } finally {
      d.close();
      inf.close();
    }
  });

  test('NUL-separated values and truncated blocks', () => {
    assert.deepEqual(decodeHeaderBlock(encodeHeaderBlock({ x: ['1', '2'] })).get('x'), ['1', '2']);
    assert.throws(() => decodeHeaderBlock(encodeHeaderBlock({ abc: 'def' }).subarray(0, 10)), SpdyProtocolError);
  });
});

describe('a client and a server session over TCP', { timeout: 30_000 }, () => {
  let server: net.Server;
  let serverSession: SpdySession;
  let client: SpdySession;
  const incoming: SpdyStream[] = [];

  before(async () => {
    const accepted = new Promise<SpdySession>((resolve) => {
      server = net.createServer((sock) => {
        const s = new SpdySession(sock, { role: 'server' });
        s.on('stream', (st: SpdyStream) => {
          if (st.header('streamType') === 'refuse') return st.reset();
          st.accept();
          incoming.push(st);
        });
        resolve(s);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    client = new SpdySession(sock, { role: 'client', headerCompression: 'zlib' });
    serverSession = await accepted;
  });
  after(() => {
    client?.destroy();
    serverSession?.destroy();
    server?.close();
  });

  test('streams carry data both ways with independent half-close', async () => {
    const s = await client.openStream({ streamType: 'echo' });
    const remote = incoming.at(-1);
    assert.ok(remote);
    assert.equal(remote.header('streamtype'), 'echo');
    remote.pipe(remote); // echo
    s.end('ping-pong');
    assert.equal(await readAll(s), 'ping-pong');
  });

  test('1 MiB from the server with no WINDOW_UPDATE needed from the client', async () => {
    const s = await client.openStream({ streamType: 'bulk' });
    const remote = incoming.at(-1);
    assert.ok(remote);
    const big = Buffer.alloc(1024 * 1024, 'x');
    remote.end(big);
    s.end();
    assert.equal((await readAll(s)).length, big.length);
  });

  test('a refused stream rejects openStream; pings round-trip', async () => {
    await assert.rejects(client.openStream({ streamType: 'refuse' }, 5000));
    await client.ping(5000);
    await serverSession.ping(5000);
  });

  test('closing the session ends the peer session', async () => {
    const closed = new Promise((r) => client.once('close', r));
    serverSession.close(1000);
    await closed;
    assert.equal(client.isClosed, true);
  });
});
