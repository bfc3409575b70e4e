/**
 * Unit tests of the frame filter: whatever way the client's bytes are chunked, the output is the same; header
 * blocks split over CONTINUATION frames, padded or priority-flagged HEADERS are rewritten correctly; other frames
 * pass byte for byte; every connection error the server would raise is raised here too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameFilter, MAX_HEADER_BLOCK } from '../../src/cri/wire/frame-filter';
import { CLIENT_PREFACE, readFrameHeader } from '../../src/cri/wire/frames';
import { HpackDecoder } from '../../src/cri/wire/hpack-decoder';
import { TestEncoder, grpcRequest } from './hpack-encoder';
import { F, T, emptyMessage, frame, headersFrames, type HeadersOptions } from './raw-h2';

const settings = frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0xff, 0xff]));

function feed(input: Buffer, chunkSizes: (i: number) => number): Buffer {
  const f = new FrameFilter();
  const out: Buffer[] = [];
  for (let pos = 0, i = 0; pos < input.length; i++) {
    const n = Math.max(1, chunkSizes(i));
    out.push(...f.push(input.subarray(pos, pos + n)));
    pos += n;
  }
  return Buffer.concat(out);
}

/** Parses the filter's output frames and returns the header block of each stream, decoded for authorities. */
function authorities(out: Buffer): string[] {
  assert.deepEqual(out.subarray(0, CLIENT_PREFACE.length), CLIENT_PREFACE);
  const dec = new HpackDecoder();
  const seen: string[] = [];
  let block: Buffer[] = [];
  for (let pos = CLIENT_PREFACE.length; pos < out.length;) {
    const h = readFrameHeader(out, pos);
    let payload = out.subarray(pos + 9, pos + 9 + h.length);
    pos += 9 + h.length;
    if (h.type === T.HEADERS) {
      if (h.flags & F.PADDED) payload = payload.subarray(1, payload.length - payload[0]!);
      if (h.flags & F.PRIORITY) payload = payload.subarray(5);
    }
    if (h.type === T.HEADERS || h.type === T.CONTINUATION) {
      block.push(payload);
      if (h.flags & F.END_HEADERS) {
        seen.push(...dec.scan(Buffer.concat(block)).map((l) => l.value.toString()));
        block = [];
      }
    }
  }
  return seen;
}

function connection(opts: HeadersOptions[], authority = '/run/crimux/crimux.sock', huffman = false): Buffer {
  const enc = new TestEncoder();
  const parts = [CLIENT_PREFACE, settings];
  opts.forEach((o, i) => {
    const id = 1 + 2 * i;
    parts.push(headersFrames(id, enc.encode(grpcRequest(authority, { huffman })), o), emptyMessage(id));
  });
  return Buffer.concat(parts);
}

describe('frame filter', () => {
  const shapes: [string, HeadersOptions][] = [
    ['one HEADERS frame', {}],
    ['padded HEADERS', { padding: 17 }],
    ['priority HEADERS', { priority: true }],
    ['padded + priority HEADERS', { padding: 255, priority: true }],
    ['HEADERS + 2 CONTINUATION', { splitAt: [3, 20] }],
    ['padded + priority HEADERS + CONTINUATION in the authority', { padding: 4, priority: true, splitAt: [7, 8, 9] }],
    ['one byte per CONTINUATION', { splitAt: Array.from({ length: 80 }, (_, i) => i + 1) }],
  ];
  const chunkings: [string, (i: number) => number][] = [
    ['whole', () => 1 << 20],
    ['byte by byte', () => 1],
    ['odd chunks', (i) => (i * 7919) % 23],
  ];
  for (const [shape, o] of shapes) {
    for (const [chunking, sizes] of chunkings) {
      for (const huffman of [false, true]) {
        it(`${shape}, fed ${chunking}, ${huffman ? 'Huffman' : 'raw'}`, () => {
          const input = connection([o, o, {}], '/run/crimux/crimux.sock', huffman);
          const out = feed(input, sizes);
          assert.deepEqual(authorities(out), [
            '_run_crimux_crimux.sock',
            '_run_crimux_crimux.sock',
            '_run_crimux_crimux.sock',
          ]);
          // The DATA frames are passed on byte for byte.
          assert.equal(out.subarray(-emptyMessage(5).length).compare(emptyMessage(5)), 0);
        });
      }
    }
  }

  it('passes a connection with accepted authorities on byte for byte, however chunked', () => {
    const input = connection([{ padding: 3 }, { splitAt: [5] }, { priority: true }], 'localhost');
    for (const [, sizes] of chunkings) assert.deepEqual(feed(input, sizes), input);
  });

  it('splits a rewritten block over 16 KiB into CONTINUATION frames', () => {
    const enc = new TestEncoder();
    const block = enc.encode([...grpcRequest('/x'), { name: 'x-big', value: 'v'.repeat(40000), as: 'without' }]);
    const input = Buffer.concat([CLIENT_PREFACE, headersFrames(1, block, { splitAt: [16000, 32000] })]);
    const out = feed(input, () => 1000);
    assert.deepEqual(authorities(out), ['_x']);
    let pos = CLIENT_PREFACE.length;
    const types: number[] = [];
    while (pos < out.length) {
      const h = readFrameHeader(out, pos);
      assert.ok(h.length <= 16384);
      types.push(h.type);
      pos += 9 + h.length;
    }
    assert.deepEqual(types, [T.HEADERS, T.CONTINUATION, T.CONTINUATION]);
  });

  it('drops only the first SETTINGS ACK when asked, and hands back what it still holds as sent', () => {
    const ack = frame(T.SETTINGS, F.ACK, 0);
    const block = new TestEncoder().encode(grpcRequest('localhost'));
    const second = headersFrames(3, block, { splitAt: [4] });
    const input = Buffer.concat([CLIENT_PREFACE, settings, ack, headersFrames(1, block), ack, second.subarray(0, 20)]);
    const f = new FrameFilter({ dropFirstSettingsAck: true });
    const out = Buffer.concat(f.push(input));
    assert.ok(f.settingsAckDropped);
    assert.equal(f.headerBlocks, 1);
    assert.equal(f.rewrittenBlocks, 0);
    const expected = Buffer.concat([CLIENT_PREFACE, settings, headersFrames(1, block), ack]);
    assert.deepEqual(out, expected);
    assert.deepEqual(Buffer.concat(f.takeUnprocessed()), second.subarray(0, 20));
  });

  const enc = () => new TestEncoder().encode(grpcRequest('/x'));
  const errors: [string, Buffer][] = [
    ['garbage before the preface', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    [
      'a block interrupted by another frame',
      Buffer.concat([CLIENT_PREFACE, headersFrames(1, enc(), { splitAt: [4] }).subarray(0, 13), settings]),
    ],
    [
      'CONTINUATION on another stream',
      Buffer.concat([CLIENT_PREFACE, frame(T.HEADERS, 0, 1, enc()), frame(T.CONTINUATION, F.END_HEADERS, 3)]),
    ],
    ['CONTINUATION without HEADERS', Buffer.concat([CLIENT_PREFACE, frame(T.CONTINUATION, F.END_HEADERS, 1, enc())])],
    [
      'a HEADERS frame over 16 KiB',
      Buffer.concat([CLIENT_PREFACE, frame(T.HEADERS, F.END_HEADERS, 1, Buffer.alloc(16385))]),
    ],
    ['PUSH_PROMISE from a client', Buffer.concat([CLIENT_PREFACE, frame(5, F.END_HEADERS, 1, Buffer.alloc(8))])],
    [
      'padding longer than the frame',
      Buffer.concat([CLIENT_PREFACE, frame(T.HEADERS, F.END_HEADERS | F.PADDED, 1, Buffer.from([9, 0x82]))]),
    ],
    [
      'an undecodable block',
      Buffer.concat([CLIENT_PREFACE, frame(T.HEADERS, F.END_HEADERS, 1, Buffer.from([0xff, 0xff]))]),
    ],
    [
      `a header block over ${MAX_HEADER_BLOCK} bytes`,
      Buffer.concat([
        CLIENT_PREFACE,
        frame(T.HEADERS, 0, 1, Buffer.alloc(16384)),
        ...Array.from({ length: 20 }, () => frame(T.CONTINUATION, 0, 1, Buffer.alloc(16384))),
      ]),
    ],
  ];
  for (const [what, input] of errors) {
    it(`raises on ${what}`, () => assert.throws(() => feed(input, () => 1 << 20), /./));
  }
});
