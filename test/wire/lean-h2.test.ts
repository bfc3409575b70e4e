/**
 * The lean HTTP/2 server connection (src/cri/h2/session.ts) frame by frame, in process: settings and pings,
 * flow control of what it sends (the client's windows and frame size), resets, graceful GOAWAY, and connection
 * errors. The streams here answer with test bytes; the gRPC layer above them is covered by the CRI suites, which
 * run on this server by default, and by test/wire/socket.test.ts with a real daemon.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { H2Session, MAX_CONCURRENT_STREAMS } from '../../src/cri/h2/session';
import type { H2Stream } from '../../src/cri/h2/stream';
import { F, frame, headersFrames, RawConnection, T } from './raw-h2';
import { TestEncoder as HpackEncoder } from './hpack-encoder';

const SETTINGS_INITIAL_WINDOW_SIZE = 4;

/** What the test server does with a request: answer at once with `bytes` of DATA and OK trailers, or hold it. */
let answerBytes = 10;
let hold = false;
/** Answer inside onStream, before the request's end (as the call layer does for a refused method or bad header). */
let answerAtOnce = false;
/** Answer after a few promise turns, as an async handler answering from memory does. */
let answerAfterMicrotasks = false;
const serverSockets: net.Socket[] = [];
const held: H2Stream[] = [];
const closedStreams: number[] = [];
const sessions: H2Session[] = [];

function answer(s: H2Stream, bytes: number): void {
  s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
  s.end(Buffer.alloc(bytes, 7));
}

function request(enc: HpackEncoder, id: number, endStream = true): Buffer {
  const block = enc.encode([
    { index: 3 }, // :method POST
    { index: 6 }, // :scheme http
    { name: ':path', value: '/runtime.v1.RuntimeService/Version', nameIndex: 4 },
    { name: ':authority', value: '/run/crimux/crimux.sock', nameIndex: 1 },
    { name: 'content-type', value: 'application/grpc', nameIndex: 31 },
  ]);
  return headersFrames(id, block, { endStream });
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function dataBytes(c: RawConnection, id: number): number {
  return c.frames.filter((f) => f.type === T.DATA && f.streamId === id).reduce((n, f) => n + f.length, 0);
}

describe('lean HTTP/2 server connection', () => {
  let dir: string;
  let sock: string;
  let server: net.Server;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'crimux-lean-h2-'));
    sock = path.join(dir, 's.sock');
    server = net.createServer((socket) => {
      serverSockets.push(socket);
      const session = new H2Session(socket, {
        maxHeaderBlock: 64 * 1024,
        onStream: (s) => {
          s.once('close', () => closedStreams.push(s.id));
          if (answerAtOnce) return void s.respond({ ':status': 200, 'grpc-status': '12' }, { endStream: true });
          s.on('end', () => {
            if (hold) return void held.push(s);
            if (!answerAfterMicrotasks) return answer(s, answerBytes);
            void (async () => {
              for (let i = 0; i < 10; i++) await Promise.resolve();
              answer(s, answerBytes);
            })();
          });
        },
      });
      sessions.push(session);
    });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
  });
  after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens with SETTINGS and the largest windows, ACKs the client, answers PING with its payload', async () => {
    const c = await RawConnection.open(sock);
    const settings = c.frames.find((f) => f.type === T.SETTINGS && !(f.flags & F.ACK));
    assert.deepEqual([settings?.payload.readUInt16BE(0), settings?.payload.readUInt32BE(2)], [4, 2 ** 31 - 1]);
    const wu = c.frames.find((f) => f.type === T.WINDOW_UPDATE && f.streamId === 0);
    assert.equal(wu?.payload.readUInt32BE(0), 2 ** 31 - 1 - 65535);
    await c.until('SETTINGS ACK', () => c.frames.some((f) => f.type === T.SETTINGS && f.flags & F.ACK));
    c.write(frame(T.PING, 0, 0, Buffer.from('12345678')));
    await c.until('PING ACK', () => c.frames.some((f) => f.type === T.PING && f.flags & F.ACK));
    assert.equal(c.frames.find((f) => f.type === T.PING)?.payload.toString(), '12345678');
    c.close();
  });

  it('a PING ACK owed with a request leaves in the same write as an answer made in a few promise turns', async () => {
    // grpc-go sends a PING with every request; a separate write for its ACK cost every call a second wake-up.
    answerAfterMicrotasks = true;
    const c = await RawConnection.open(sock);
    await c.until('SETTINGS ACK', () => c.frames.some((f) => f.type === T.SETTINGS && f.flags & F.ACK));
    const socket = serverSockets.at(-1)!;
    const writes: number[] = [];
    const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
    socket.write = ((chunk: Buffer) => {
      writes.push(chunk.length);
      return write(chunk);
    }) as typeof socket.write;
    const enc = new HpackEncoder();
    c.write(Buffer.concat([frame(T.PING, 0, 0, Buffer.from('abcdefgh')), request(enc, 1)]));
    await c.until('answered', () => c.answered(1));
    assert.ok(c.frames.some((f) => f.type === T.PING && f.flags & F.ACK));
    assert.equal(writes.length, 1, `one write for the ACK and the answer (${writes.join(', ')} bytes)`);
    answerAfterMicrotasks = false;
    c.close();
  });

  it("sends no more DATA than the client's stream and connection windows allow, in frames of its size", async () => {
    answerBytes = 70_000;
    const c = await RawConnection.open(sock);
    c.holdReplies = true; // no automatic WINDOW_UPDATE from this client
    const enc = new HpackEncoder();
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0);
    settings.writeUInt32BE(1000, 2);
    c.write(Buffer.concat([frame(T.SETTINGS, 0, 0, settings), request(enc, 1)]));
    await c.until('1000 bytes', () => dataBytes(c, 1) === 1000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(dataBytes(c, 1), 1000, 'no byte past the stream window');
    // The stream window opens wide; the connection's (65,535 by default) is what holds it now.
    c.write(frame(T.WINDOW_UPDATE, 0, 1, u32(1_000_000)));
    await c.until('65,535 bytes', () => dataBytes(c, 1) === 65_535);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(dataBytes(c, 1), 65_535, 'no byte past the connection window');
    assert.ok(!c.frames.some((f) => f.type === T.HEADERS && f.flags & F.END_STREAM), 'trailers wait for the DATA');
    c.write(frame(T.WINDOW_UPDATE, 0, 0, u32(1_000_000)));
    await c.until('trailers', () => c.frames.some((f) => f.type === T.HEADERS && f.flags & F.END_STREAM));
    assert.equal(dataBytes(c, 1), 70_000);
    assert.ok(c.frames.filter((f) => f.type === T.DATA).every((f) => f.length <= 16384));
    const last = c.frames.filter((f) => f.streamId === 1).at(-1);
    assert.equal(last?.type, T.HEADERS, 'trailers come last');
    c.close();
    answerBytes = 10;
  });

  it('closes a stream the client resets, and answers the next one on the same connection', async () => {
    hold = true;
    closedStreams.length = 0; // stream IDs restart on every connection
    const c = await RawConnection.open(sock);
    const enc = new HpackEncoder();
    c.write(request(enc, 1));
    await c.until('held', () => held.length === 1);
    c.write(frame(T.RST_STREAM, 0, 1, u32(8))); // CANCEL
    await c.until('stream 1 closed', () => closedStreams.includes(1));
    hold = false;
    answer(held.pop()!, 10); // the late answer of a reset stream goes nowhere
    c.write(request(enc, 3));
    await c.until('stream 3 answered', () =>
      c.frames.some((f) => f.streamId === 3 && f.type === T.HEADERS && f.flags & F.END_STREAM),
    );
    assert.ok(!c.frames.some((f) => f.streamId === 1 && f.type === T.DATA), c.summary());
    c.close();
  });

  it('on a graceful close sends GOAWAY, finishes the open stream, refuses newer ones, then ends', async () => {
    hold = true;
    const c = await RawConnection.open(sock);
    const enc = new HpackEncoder();
    c.write(request(enc, 1));
    await c.until('held', () => held.length === 1);
    sessions.at(-1)!.close();
    await c.until('GOAWAY', () => c.goaway());
    const goaway = c.frames.find((f) => f.type === T.GOAWAY)!;
    assert.deepEqual([goaway.payload.readUInt32BE(0), goaway.payload.readUInt32BE(4)], [1, 0]);
    c.write(request(enc, 3));
    await c.until('stream 3 refused', () => c.reset(3));
    assert.equal(c.frames.find((f) => f.type === T.RST_STREAM && f.streamId === 3)?.payload.readUInt32BE(0), 7);
    assert.equal(c.closed, false, 'the open stream keeps the connection');
    hold = false;
    answer(held.pop()!, 10);
    await c.until('closed after the last stream', () => c.closed);
    assert.ok(c.frames.some((f) => f.streamId === 1 && f.type === T.HEADERS && f.flags & F.END_STREAM));
  });

  it('answers at once without resetting a stream the client already ended, and ignores what follows an early answer', async () => {
    answerAtOnce = true;
    const c = await RawConnection.open(sock);
    const enc = new HpackEncoder();
    c.write(request(enc, 1)); // HEADERS with END_STREAM: answered in onStream
    await c.until('stream 1 answered', () => c.frames.some((f) => f.streamId === 1 && f.type === T.HEADERS));
    c.write(request(enc, 3, false)); // still open: the early answer resets it (NO_ERROR)
    await c.until('stream 3 reset', () => c.reset(3));
    c.write(Buffer.concat([request(enc, 3), frame(T.DATA, F.END_STREAM, 3, Buffer.alloc(5))])); // late: ignored
    answerAtOnce = false;
    c.write(request(enc, 5));
    await c.until('stream 5 answered', () =>
      c.frames.some((f) => f.streamId === 5 && f.type === T.HEADERS && f.flags & F.END_STREAM),
    );
    assert.ok(!c.reset(1), `no reset of an ended stream: ${c.summary()}`);
    assert.equal(c.frames.find((f) => f.type === T.RST_STREAM && f.streamId === 3)?.payload.readUInt32BE(0), 0);
    assert.ok(!c.goaway() && !c.closed, c.summary());
    c.close();
  });

  it(`refuses streams past ${MAX_CONCURRENT_STREAMS} open at once, and serves the rest`, async () => {
    hold = true;
    held.length = 0;
    const c = await RawConnection.open(sock);
    const enc = new HpackEncoder();
    const max = c.frames.find((f) => f.type === T.SETTINGS && !(f.flags & F.ACK))!.payload;
    assert.deepEqual([max.readUInt16BE(6), max.readUInt32BE(8)], [3, MAX_CONCURRENT_STREAMS]);
    const parts: Buffer[] = [];
    for (let i = 0; i <= MAX_CONCURRENT_STREAMS; i++) parts.push(request(enc, 2 * i + 1));
    c.write(Buffer.concat(parts));
    const lastId = 2 * MAX_CONCURRENT_STREAMS + 1;
    await c.until('the last one refused', () => c.reset(lastId));
    assert.equal(c.frames.find((f) => f.type === T.RST_STREAM)?.payload.readUInt32BE(0), 7);
    assert.equal(held.length, MAX_CONCURRENT_STREAMS);
    hold = false;
    for (const s of held.splice(0)) answer(s, 10);
    await c.until(
      'all answered',
      () => c.frames.filter((f) => f.type === T.HEADERS && f.flags & F.END_STREAM).length === MAX_CONCURRENT_STREAMS,
    );
    c.close();
  });

  it("resets a stream whose response headers exceed the client's header list limit, and keeps the connection", async () => {
    answerAtOnce = true;
    const c = await RawConnection.open(sock);
    const enc = new HpackEncoder();
    const limit = Buffer.alloc(6);
    limit.writeUInt16BE(6, 0); // SETTINGS_MAX_HEADER_LIST_SIZE
    limit.writeUInt32BE(60, 2); // less than the answer's ':status' and 'grpc-status' with their overhead
    c.write(Buffer.concat([frame(T.SETTINGS, 0, 0, limit), request(enc, 1)]));
    await c.until('stream 1 reset', () => c.reset(1));
    assert.equal(c.frames.find((f) => f.type === T.RST_STREAM)?.payload.readUInt32BE(0), 2); // INTERNAL_ERROR
    assert.ok(!c.frames.some((f) => f.type === T.HEADERS && f.streamId === 1), 'no oversize block was sent');
    answerAtOnce = false;
    c.write(frame(T.PING, 0, 0, Buffer.alloc(8)));
    await c.until('PING answered', () => c.frames.some((f) => f.type === T.PING && f.flags & F.ACK));
    assert.ok(!c.goaway() && !c.closed);
    c.close();
  });

  it('stops reading a client that sends but does not read, so its replies stay bounded', async () => {
    const c = await RawConnection.open(sock);
    c.socket.pause(); // reads nothing more
    const ping = frame(T.PING, 0, 0, Buffer.alloc(8));
    const burst = Buffer.concat(Array.from({ length: 4096 }, () => ping));
    for (let i = 0; i < 200; i++) c.socket.write(burst); // 13.6 MiB of PINGs, each owed a PING ACK
    const server = serverSockets.at(-1)!;
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(server.isPaused(), 'the server stopped reading');
    assert.ok(server.writableLength < 2 * 1024 * 1024, `queued replies: ${server.writableLength} bytes`);
    c.close();
  });

  for (const [what, bytes, code] of [
    [
      'a flood of empty CONTINUATION frames',
      Buffer.concat([
        frame(T.HEADERS, 0, 1, Buffer.from([0x83])),
        ...Array.from({ length: 100 }, () => frame(T.CONTINUATION, 0, 1)),
      ]),
      1,
    ],
    [
      'an HPACK integer that never ends',
      frame(
        T.HEADERS,
        F.END_HEADERS,
        1,
        Buffer.concat([Buffer.from([0x3f]), Buffer.alloc(150, 0x80), Buffer.from([1])]),
      ),
      9,
    ],
    ['DATA on stream 0', frame(T.DATA, 0, 0, Buffer.alloc(4)), 1],
    ['a frame over 16 KiB', frame(T.DATA, 0, 1, Buffer.alloc(20_000)), 6],
    ['HEADERS on an even stream', frame(T.HEADERS, F.END_HEADERS, 2, Buffer.from([0x83])), 1],
    ['a broken header block', frame(T.HEADERS, F.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), 9],
    ['CONTINUATION without HEADERS', frame(T.CONTINUATION, F.END_HEADERS, 1, Buffer.from([0x83])), 1],
    ['PUSH_PROMISE', frame(5, 0, 1, Buffer.alloc(4)), 1],
  ] as const) {
    it(`ends the connection with GOAWAY on ${what}`, async () => {
      const c = await RawConnection.open(sock);
      c.write(bytes);
      await c.until('closed', () => c.closed);
      const goaway = c.frames.find((f) => f.type === T.GOAWAY);
      assert.equal(goaway?.payload.readUInt32BE(4), code);
    });
  }

  it('refuses a connection that does not start with the client preface', async () => {
    const c = await RawConnection.open(sock, false);
    c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await c.until('closed', () => c.closed);
  });
});
