/**
 * The direct gRPC transport (src/cri/direct) in process, behind the real CriServer listener and its authority
 * filter, with stub handlers: a real @grpc/grpc-js client for what a client library does, node:http2 for requests
 * no library would send (wrong method or content type, compressed or coalesced messages, a bad grpc-timeout),
 * and raw HTTP/2 frames (test/wire/raw-h2.ts) where the exact DATA framing matters. Every wait is bounded; no
 * assertion is about time.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CriServer } from '../../src/cri/server';
import { loadCriProto } from '../../src/cri/proto';
import { MessageReader, encodeGrpcMessage, frameMessage, parseTimeout } from '../../src/cri/direct/framing';
import type { ImageServiceHandlers } from '../../src/cri/generated/runtime/v1/ImageService';
import type { RuntimeServiceHandlers } from '../../src/cri/generated/runtime/v1/RuntimeService';
import { nullLogger } from '../../src/log/logger';
import { CriClient } from '../helpers/cri-client';
import { TestEncoder, grpcRequest } from '../wire/hpack-encoder';
import { F, RawConnection, T, frame, headersFrames } from '../wire/raw-h2';

const MAX = 64 * 1024;
const RT = '/runtime.v1.RuntimeService';
const STREAM_MESSAGES = 200;
const PAD = 'x'.repeat(32 * 1024);

const methods = loadCriProto().runtime.v1.RuntimeService.service;

/** Waits (bounded) until check() holds. */
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function withTimeout<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))),
  ]);
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> & { cancelled: boolean };

/** Stub handlers whose behaviour the tests steer, and what they saw. */
class Stubs {
  /** Status calls waiting for the test to answer (or never). */
  held: { call: AnyCall; cb: grpc.sendUnaryData<unknown>; cancelled: boolean }[] = [];
  lastMetadata: grpc.Metadata | undefined;
  streamMode: 'flood' | 'error' = 'flood';
  sawBackpressure = false;
  drains = 0;

  runtime(): RuntimeServiceHandlers {
    return {
      Version: (call: AnyCall, cb: grpc.sendUnaryData<unknown>) => {
        this.lastMetadata = call.metadata;
        cb(null, { version: '1', runtime_name: 'stub', runtime_version: '1', runtime_api_version: 'v1' });
      },
      // Echoes the filter id back as a container id: proves the request arrived whole.
      ListContainers: (call: AnyCall, cb: grpc.sendUnaryData<unknown>) => {
        const id = (call.request as { filter?: { id?: string } }).filter?.id ?? '';
        if (id === 'big') return cb(null, { containers: [{ id: 'y'.repeat(MAX + 1) }] });
        if (id === 'fail') return cb({ code: grpc.status.NOT_FOUND, details: 'nö: 100% gone\nreally' });
        cb(null, { containers: [{ id }] });
      },
      Status: (call: AnyCall, cb: grpc.sendUnaryData<unknown>) => {
        const entry = { call, cb, cancelled: false };
        call.on('cancelled', () => (entry.cancelled = true));
        this.held.push(entry);
      },
      GetContainerEvents: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        if (this.streamMode === 'error') {
          call.write({ container_id: '0' });
          call.write({ container_id: '1' });
          call.emit('error', { code: grpc.status.NOT_FOUND, details: 'events gone' });
          return;
        }
        let i = 0;
        const pump = (): void => {
          while (i < STREAM_MESSAGES) {
            const more = call.write({ container_id: `${i++}:${PAD}` });
            if (!more) {
              this.sawBackpressure = true;
              call.once('drain', () => {
                this.drains++;
                pump();
              });
              return;
            }
          }
          call.end();
        };
        pump();
      },
    } as unknown as RuntimeServiceHandlers;
  }
}

interface Served {
  server: CriServer;
  sock: string;
  stubs: Stubs;
}

/** The gRPC layer's two HTTP/2 layers: node:http2 ("direct") and crimux's own ("lean", the default). */
const TRANSPORTS = ['direct', 'lean'] as const;
type Transport = (typeof TRANSPORTS)[number];

async function serve(dir: string, name: string, transport: Transport): Promise<Served> {
  const stubs = new Stubs();
  const sock = path.join(dir, `${name}.sock`);
  const server = new CriServer(
    { socketPath: sock, socketGroup: '', maxMessageBytes: MAX, log: nullLogger(), transport },
    stubs.runtime(),
    {} as ImageServiceHandlers,
  );
  await server.listen();
  return { server, sock, stubs };
}

interface H2Reply {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  data: Buffer;
}

function h2connect(sock: string): http2.ClientHttp2Session {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(sock) });
  session.on('error', () => undefined);
  return session;
}

/** One request with node:http2; body written with one write each (one DATA frame each for small ones). */
function h2call(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer[],
): Promise<H2Reply> {
  return withTimeout(
    new Promise<H2Reply>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      const reply: H2Reply = { headers: {}, trailers: {}, data: Buffer.alloc(0) };
      req.on('response', (h) => (reply.headers = h));
      req.on('trailers', (t) => (reply.trailers = t));
      req.on('data', (d: Buffer) => (reply.data = Buffer.concat([reply.data, d])));
      req.on('error', reject);
      req.on('close', () => resolve(reply));
      for (const b of body) req.write(b);
      req.end();
    }),
    `h2 call ${String(headers[':path'])}`,
  );
}

/** grpc-status and grpc-message of a reply, from its trailers or (Trailers-Only) its headers. */
function statusOf(r: H2Reply): { code: number; message: string } {
  const src = r.trailers['grpc-status'] !== undefined ? r.trailers : r.headers;
  return { code: Number(src['grpc-status']), message: String(src['grpc-message'] ?? '') };
}

const listContainers = (id: string): Buffer =>
  frameMessage(methods.ListContainers.requestSerialize({ filter: { id } }));

describe('direct transport: framing', () => {
  it('parses every grpc-timeout unit and refuses malformed values', () => {
    assert.equal(parseTimeout('2H'), 7_200_000);
    assert.equal(parseTimeout('3M'), 180_000);
    assert.equal(parseTimeout('10S'), 10_000);
    assert.equal(parseTimeout('250m'), 250);
    assert.equal(parseTimeout('1500u'), 1.5);
    assert.equal(parseTimeout('99999999n'), 99.999999);
    for (const bad of ['', '5', 'S', '123456789S', '1x', '-1S', '1.5S', ' 1S'])
      assert.equal(parseTimeout(bad), undefined);
  });

  it('percent-encodes grpc-message as the spec says, and leaves plain ASCII alone', () => {
    assert.equal(encodeGrpcMessage('pod "a" not found'), 'pod "a" not found');
    assert.equal(encodeGrpcMessage('100% ü\n'), '100%25 %C3%BC%0A');
    // A message naming a 70 KB request value would make a header list clients refuse (nghttp2: 64 KiB).
    const cut = encodeGrpcMessage(`pod ${'y'.repeat(70_000)} not found`);
    assert.ok(cut.length <= 8192 + 16 && cut.startsWith('pod yyy') && cut.endsWith('(cut)'), String(cut.length));
  });

  it('frames a large payload once while it is the same buffer, and a small one each time', () => {
    const big = Buffer.alloc(70_000, 3);
    const framed = frameMessage(big);
    assert.equal(framed.readUInt32BE(1), big.length);
    assert.equal(framed[0], 0);
    assert.deepEqual(framed.subarray(5), big);
    assert.equal(frameMessage(big), framed, 'the kept framing of the same payload');
    assert.notEqual(frameMessage(Buffer.from(big)), framed, 'an equal but other buffer is framed anew');
    const small = Buffer.from('hello');
    assert.notEqual(frameMessage(small), frameMessage(small));
    assert.deepEqual(frameMessage(small), Buffer.from([0, 0, 0, 0, 5, ...small]));
  });

  it('reassembles messages from chunks of every size, and several messages from one chunk', () => {
    const msgs = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(70_000, 7)];
    const bytes = Buffer.concat(msgs.map(frameMessage));
    for (const size of [1, 2, 3, 4, 5, 6, 7, 13, 4096, bytes.length]) {
      const reader = new MessageReader(1 << 20);
      const got: Buffer[] = [];
      for (let off = 0; off < bytes.length; off += size) got.push(...reader.push(bytes.subarray(off, off + size)));
      assert.deepEqual(got, msgs, `chunks of ${size}`);
      assert.equal(reader.partial, false);
    }
    const reader = new MessageReader(1 << 20);
    reader.push(bytes.subarray(0, 8));
    assert.equal(reader.partial, true, 'a cut-off message is noticed');
  });
});

for (const transport of TRANSPORTS) {
  describe(`${transport} transport: in process`, { timeout: 120_000 }, () => {
    let dir = '';
    let s: Served;
    let client: CriClient;
    let h2: http2.ClientHttp2Session;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-direct-'));
      s = await serve(dir, 'main', transport);
      client = new CriClient(s.sock);
      h2 = h2connect(s.sock);
    });

    after(async () => {
      client?.close();
      h2?.destroy();
      await s?.server.drain(1000);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('answers a grpc-js client and gives handlers the request metadata', async () => {
      const md = new grpc.Metadata();
      md.set('x-test', 'hello');
      const res = await withTimeout(
        new Promise<{ runtime_name: string }>((resolve, reject) =>
          client.runtime.Version({ version: 'v1' }, md, { deadline: Date.now() + 10_000 }, (err, r) =>
            err ? reject(err) : resolve(r as { runtime_name: string }),
          ),
        ),
        'Version',
      );
      assert.equal(res.runtime_name, 'stub');
      assert.deepEqual(s.stubs.lastMetadata?.get('x-test'), ['hello']);
      assert.deepEqual(s.stubs.lastMetadata?.get('grpc-timeout'), [], 'transport headers are not metadata');
      const echoed = await client.rt('ListContainers', { filter: { id: 'abc' } });
      assert.equal(echoed.containers[0]?.id, 'abc');
    });

    it('sends a handler error as grpc-status and a percent-encoded grpc-message', async () => {
      const err = await client.rt('ListContainers', { filter: { id: 'fail' } }).then(
        () => assert.fail('expected an error'),
        (e: grpc.ServiceError) => e,
      );
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, 'nö: 100% gone\nreally');
      const raw = await h2call(h2, { ':path': `${RT}/ListContainers` }, [listContainers('fail')]);
      assert.equal(raw.headers[':status'], 200);
      assert.equal(raw.headers['content-type'], 'application/grpc');
      assert.deepEqual(statusOf(raw), { code: grpc.status.NOT_FOUND, message: 'n%C3%B6: 100%25 gone%0Areally' });
    });

    it('answers UNIMPLEMENTED for an unknown path and for a CRI method without handler', async () => {
      const g = new grpc.Client(`unix://${s.sock}`, grpc.credentials.createInsecure());
      try {
        const call = (p: string) =>
          withTimeout(
            new Promise<grpc.ServiceError>((resolve) =>
              g.makeUnaryRequest(
                p,
                (x: Buffer) => x,
                (x: Buffer) => x,
                Buffer.alloc(0),
                (err) => resolve(err as grpc.ServiceError),
              ),
            ),
            p,
          );
        assert.equal((await call(`${RT}/NoSuchMethod`)).code, grpc.status.UNIMPLEMENTED);
        assert.equal((await call('/other.Service/Version')).code, grpc.status.UNIMPLEMENTED);
        assert.equal((await call('/runtime.v1.ImageService/ImageFsInfo')).code, grpc.status.UNIMPLEMENTED);
      } finally {
        g.close();
      }
    });

    it('refuses a method other than POST (405) and a content-type other than application/grpc (415)', async () => {
      const get = await h2call(h2, { ':method': 'GET', ':path': `${RT}/Version` }, []);
      assert.equal(get.headers[':status'], 405);
      const json = await h2call(h2, { ':path': `${RT}/Version`, 'content-type': 'application/json' }, [
        Buffer.alloc(5),
      ]);
      assert.equal(json.headers[':status'], 415);
      const proto = await h2call(h2, { ':path': `${RT}/Version`, 'content-type': 'application/grpc+proto' }, [
        Buffer.alloc(5),
      ]);
      assert.equal(proto.headers[':status'], 200);
      assert.equal(statusOf(proto).code, grpc.status.OK);
      assert.equal(proto.headers['grpc-accept-encoding'], 'identity');
    });

    it('refuses compressed messages: UNIMPLEMENTED for an unknown encoding, INTERNAL with identity', async () => {
      const compressed = Buffer.from([1, 0, 0, 0, 2, 0x1f, 0x8b]);
      const gzip = await h2call(h2, { ':path': `${RT}/Version`, 'grpc-encoding': 'gzip' }, [compressed]);
      assert.equal(statusOf(gzip).code, grpc.status.UNIMPLEMENTED);
      const identity = await h2call(h2, { ':path': `${RT}/Version` }, [compressed]);
      assert.equal(statusOf(identity).code, grpc.status.INTERNAL);
      // An encoding named but the flag clear: an uncompressed message, which is fine.
      const plain = await h2call(h2, { ':path': `${RT}/Version`, 'grpc-encoding': 'gzip' }, [Buffer.alloc(5)]);
      assert.equal(statusOf(plain).code, grpc.status.OK);
    });

    it('answers RESOURCE_EXHAUSTED for a message over the limit, both ways', async () => {
      const inbound = await client
        .rt('ListContainers', { filter: { id: 'a', label_selector: { big: 'z'.repeat(MAX) } } })
        .then(
          () => assert.fail('expected an error'),
          (e: grpc.ServiceError) => e,
        );
      assert.equal(inbound.code, grpc.status.RESOURCE_EXHAUSTED);
      const outbound = await client.rt('ListContainers', { filter: { id: 'big' } }).then(
        () => assert.fail('expected an error'),
        (e: grpc.ServiceError) => e,
      );
      assert.equal(outbound.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(outbound.details, /Sent message larger than max/);
      // Only the prefix announces the size: refused before the body arrives.
      const prefix = Buffer.from([0, 0, 0x10, 0, 0]); // 1 MiB announced
      const announced = await h2call(h2, { ':path': `${RT}/ListContainers` }, [prefix]);
      assert.equal(statusOf(announced).code, grpc.status.RESOURCE_EXHAUSTED);
    });

    it('wants exactly one request message: none, two coalesced in one DATA frame, or one cut short are errors', async () => {
      const none = await h2call(h2, { ':path': `${RT}/Version` }, []);
      assert.equal(statusOf(none).code, grpc.status.UNIMPLEMENTED);
      const two = await h2call(h2, { ':path': `${RT}/ListContainers` }, [
        Buffer.concat([listContainers('one'), listContainers('two')]),
      ]);
      assert.deepEqual(statusOf(two).code, grpc.status.UNIMPLEMENTED);
      assert.match(statusOf(two).message, /second request message/);
      const cut = await h2call(h2, { ':path': `${RT}/ListContainers` }, [listContainers('cut').subarray(0, 8)]);
      assert.equal(statusOf(cut).code, grpc.status.INTERNAL);
      const invalid = await h2call(h2, { ':path': `${RT}/ListContainers` }, [frameMessage(Buffer.from([0xff, 0xff]))]);
      assert.equal(statusOf(invalid).code, grpc.status.INTERNAL, 'undecodable protobuf');
    });

    it('reassembles a request sent in 1-byte DATA frames, on a native and on a filtered (socket-path) connection', async () => {
      for (const authority of ['localhost', '/run/crimux/crimux.sock']) {
        const c = await RawConnection.open(s.sock);
        try {
          const id = `split-${authority}-${'i'.repeat(200)}`;
          const body = listContainers(id);
          const block = new TestEncoder().encode(grpcRequest(authority, { path: `${RT}/ListContainers` }));
          c.write(headersFrames(1, block));
          for (let i = 0; i < body.length; i++) {
            c.write(frame(T.DATA, i === body.length - 1 ? F.END_STREAM : 0, 1, body.subarray(i, i + 1)));
          }
          await c.until('stream 1 answered', () => c.answered(1) || c.reset(1) || c.closed);
          assert.ok(c.answered(1), `answered on ${authority}: ${c.summary()}`);
          const data = Buffer.concat(
            c.frames.filter((f) => f.streamId === 1 && f.type === T.DATA).map((f) => f.payload),
          );
          assert.equal(data.readUInt32BE(1), data.length - 5, 'one whole response message');
          const res = methods.ListContainers.responseDeserialize(data.subarray(5)) as { containers: { id: string }[] };
          assert.equal(res.containers[0]?.id, id);
        } finally {
          c.close();
        }
      }
    });

    it('ends a call at its grpc-timeout with DEADLINE_EXCEEDED, cancelling the handler; refuses a bad one', async () => {
      const before = s.stubs.held.length;
      const r = await h2call(h2, { ':path': `${RT}/Status`, 'grpc-timeout': '100m' }, [Buffer.alloc(5)]);
      assert.equal(statusOf(r).code, grpc.status.DEADLINE_EXCEEDED);
      const held = s.stubs.held[before];
      assert.ok(held, 'the handler ran');
      assert.ok(held.cancelled && held.call.cancelled, "the handler's call was cancelled");
      const deadline = held.call.getDeadline();
      assert.ok(deadline instanceof Date, 'getDeadline() is the Date the timeout gave');
      const bad = await h2call(h2, { ':path': `${RT}/Version`, 'grpc-timeout': '1x' }, [Buffer.alloc(5)]);
      assert.equal(statusOf(bad).code, grpc.status.INTERNAL);
    });

    it('cancels the call when the client cancels mid-call, and ignores the late answer', async () => {
      const before = s.stubs.held.length;
      const g = new CriClient(s.sock);
      try {
        let clientErr: grpc.ServiceError | undefined;
        const call = g.runtime.Status({}, (err) => (clientErr = err ?? undefined));
        await until('Status held', () => s.stubs.held.length > before);
        const held = s.stubs.held[before]!;
        assert.equal(held.call.cancelled, false);
        assert.equal(held.call.getDeadline(), Infinity, 'no grpc-timeout, no deadline');
        call.cancel();
        await until('handler saw the cancel', () => held.cancelled);
        assert.equal(held.call.cancelled, true);
        held.cb(null, {}); // too late: dropped
        await until('client saw its cancel', () => clientErr !== undefined);
        assert.equal(clientErr?.code, grpc.status.CANCELLED);
        assert.equal((await g.rt('Version', {})).runtime_name, 'stub', 'the connection still serves');
      } finally {
        g.close();
      }
    });

    it('streams with back-pressure: write() false, then drain, every message in order', async () => {
      s.stubs.streamMode = 'flood';
      const stream = client.runtime.GetContainerEvents({});
      stream.pause(); // a slow reader: the server must see write() return false
      await until('server saw back-pressure', () => s.stubs.sawBackpressure);
      const ids: number[] = [];
      const ended = withTimeout(
        new Promise<void>((resolve, reject) => {
          stream.on('data', (ev: { container_id: string }) => ids.push(Number(ev.container_id.split(':')[0])));
          stream.on('end', resolve);
          stream.on('error', reject);
        }),
        'stream end',
        60_000,
      );
      stream.resume();
      await ended;
      assert.deepEqual(
        ids,
        Array.from({ length: STREAM_MESSAGES }, (_, i) => i),
      );
      assert.ok(s.stubs.drains > 0, 'writing resumed on drain');
    });

    it('ends a stream with the status a handler emits as error, after the messages it wrote', async () => {
      s.stubs.streamMode = 'error';
      const stream = client.runtime.GetContainerEvents({});
      const ids: string[] = [];
      const err = await withTimeout(
        new Promise<grpc.ServiceError>((resolve, reject) => {
          stream.on('data', (ev: { container_id: string }) => ids.push(ev.container_id));
          stream.on('error', resolve);
          stream.on('end', () => reject(new Error('stream ended without an error')));
        }),
        'stream error',
      );
      assert.deepEqual(ids, ['0', '1']);
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, 'events gone');
    });
  });

  describe(`${transport} transport: drain`, { timeout: 60_000 }, () => {
    let dir = '';
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-direct-drain-'))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('lets a call in flight finish, then closes and removes the socket', async () => {
      const s = await serve(dir, 'graceful', transport);
      const client = new CriClient(s.sock);
      try {
        const reply = client.rt('Status', {});
        await until('Status held', () => s.stubs.held.length > 0);
        const drained = s.server.drain(30_000);
        await new Promise((r) => setTimeout(r, 50)); // the drain has begun (GOAWAY sent) before the answer
        s.stubs.held[0]!.cb(null, { status: { conditions: [] } });
        await withTimeout(reply, 'in-flight reply');
        await withTimeout(drained, 'drain', 30_000);
        assert.equal(s.stubs.held[0]!.cancelled, false, 'not cancelled');
        assert.ok(!fs.existsSync(s.sock), 'socket removed');
      } finally {
        client.close();
      }
    });

    it('cancels a call still running when the grace period ends', async () => {
      const s = await serve(dir, 'forced', transport);
      const client = new CriClient(s.sock);
      try {
        const reply = client.rt('Status', {}).then(
          () => undefined,
          (e: grpc.ServiceError) => e,
        );
        await until('Status held', () => s.stubs.held.length > 0);
        await withTimeout(s.server.drain(200), 'drain');
        await until('handler cancelled', () => s.stubs.held[0]!.cancelled);
        const err = await withTimeout(reply, 'client error');
        assert.ok(err, 'the client got an error, not a reply');
      } finally {
        client.close();
      }
    });
  });
}
