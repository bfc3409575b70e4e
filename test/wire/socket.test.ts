/**
 * The CRI socket under raw HTTP/2 written by the test (a real daemon, its own process): authorities of every
 * HPACK form and many lengths are answered; split, padded and priority-flagged header blocks written in pieces;
 * an incrementally indexed path authority reused by index on later requests; hundreds of concurrent streams; and
 * bad connections (garbage before the preface, frames cut off mid-way, oversize or broken header blocks) that end
 * only themselves: the daemon keeps answering a good connection, does not crash or hang, and leaks no fd. Run on
 * the default transport (crimux's own HTTP/2 server) and on grpc-js's (nghttp2 behind the authority filter).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CLIENT_PREFACE } from '../../src/cri/wire/frames';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { TestEncoder, grpcRequest, type FieldSpec, type Representation } from './hpack-encoder';
import { F, RawConnection, T, emptyMessage, frame, headersFrames, type HeadersOptions } from './raw-h2';

const PATH = '/run/crimux/crimux.sock';

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function request(c: RawConnection, id: number, block: Buffer, o: HeadersOptions = {}): Promise<void> {
  c.write(Buffer.concat([headersFrames(id, block, o), emptyMessage(id)]));
  await c.until(`stream ${id} answered`, () => c.answered(id) || c.reset(id) || c.closed);
  assert.ok(c.answered(id), `stream ${id} answered (frames: ${c.summary()})`);
}

for (const transport of ['lean', 'grpc-js'] as const)
  describe(`CRI socket: raw HTTP/2 robustness, server.transport ${transport}`, { timeout: 300_000 }, () => {
    let d: DaemonHandle;
    let baselineFds = 0;

    before(async () => {
      d = await startDaemon({ config: { server: { transport } } });
      baselineFds = fdCount(d.pid());
    });

    after(async () => {
      await d?.cleanup();
    });

    it('answers authorities of every literal form, raw and Huffman, at many lengths', async () => {
      const c = await RawConnection.open(d.socket);
      const enc = new TestEncoder();
      let id = 1;
      const lengths = [1, 2, 5, 23, 60, 126, 127, 128, 129, 255, 500, 1000, 3000];
      for (const as of ['incremental', 'without', 'never'] as Representation[]) {
        for (const newName of [false, true]) {
          for (const huffman of [false, true]) {
            for (const len of lengths) {
              const authority = `/${'run/crimux/'.repeat(300)}`.slice(0, len);
              await request(c, id, enc.encode(grpcRequest(authority, { as, newName, huffman })));
              id += 2;
            }
          }
        }
      }
      // Empty: nghttp2 refuses it; without indexing the filter can replace it (with indexing it cannot: no value of
      // the same length exists, and that stream is refused as it always was).
      await request(c, id, enc.encode(grpcRequest('', { as: 'without' })));
      id += 2;
      // `host` is validated like :authority by nghttp2.
      await request(
        c,
        id,
        enc.encode([...grpcRequest('localhost'), { name: 'host', nameIndex: 38, value: PATH, as: 'without' }]),
      );
      c.close();
    });

    for (const huffman of [false, true]) {
      it(`reuses an incrementally indexed path authority by index, across evictions (${huffman ? 'Huffman' : 'raw'})`, async () => {
        const c = await RawConnection.open(d.socket);
        const enc = new TestEncoder();
        let id = 1;
        for (let round = 0; round < 3; round++) {
          // A fresh literal: inserted at index 62, then pushed down by one x-req entry per request.
          const first: FieldSpec[] = [
            ...grpcRequest(PATH + round, { huffman }),
            { name: 'x-req', value: '0', huffman },
          ];
          await request(c, id, enc.encode(first));
          id += 2;
          for (let k = 1; k <= 15; k++) {
            const fields: FieldSpec[] = grpcRequest('unused').map((f) =>
              'name' in f && f.name === ':authority' ? { index: 62 + k } : f,
            );
            await request(c, id, enc.encode([...fields, { name: 'x-req', value: String(k), huffman }]));
            id += 2;
          }
          // An entry near the table size evicts everything, the authority included.
          await request(c, id, enc.encode([...grpcRequest('localhost'), { name: 'x-fill', value: 'f'.repeat(4000) }]));
          id += 2;
        }
        c.close();
      });
    }

    it('takes split, padded and priority-flagged header blocks written in small pieces', async () => {
      const c = await RawConnection.open(d.socket);
      // Closed however the test ends: a connection left open would fail the fd check of a later test.
      try {
        const enc = new TestEncoder();
        const shapes: HeadersOptions[] = [
          { padding: 0 },
          { padding: 200, priority: true },
          { priority: true, splitAt: [1, 2, 3, 10, 11, 30] },
          { padding: 9, splitAt: Array.from({ length: 60 }, (_, i) => i + 1) },
        ];
        let id = 1;
        for (const o of shapes) {
          for (const huffman of [false, true]) {
            const bytes = Buffer.concat([
              headersFrames(id, enc.encode(grpcRequest(PATH, { huffman })), o),
              emptyMessage(id),
            ]);
            // The server's own SETTINGS come once the first header block is read (the hand-over to grpc-js); their
            // ACK must not land inside the frames still being written in pieces (a race the loaded CI run lost).
            c.holdReplies = true;
            for (let pos = 0, n = 1; pos < bytes.length; pos += n, n = (n % 7) + 1) {
              c.write(bytes.subarray(pos, pos + n));
              await new Promise((r) => setImmediate(r));
            }
            c.flushReplies();
            await c.until(`stream ${id}`, () => c.answered(id) || c.reset(id) || c.closed);
            assert.ok(c.answered(id), c.summary());
            id += 2;
          }
        }
      } finally {
        c.close();
      }
    });

    const midFrame =
      transport === 'grpc-js'
        ? 'hands a connection whose first request needs no rewrite to grpc-js natively, mid-frame included'
        : 'answers a request that completes while the next header block is half written';
    it(midFrame, async () => {
      const c = await RawConnection.open(d.socket);
      const enc = new TestEncoder();
      // The first request completes while the next one's header block is only half written.
      const first = Buffer.concat([
        headersFrames(1, enc.encode(grpcRequest('localhost')), { splitAt: [3] }),
        emptyMessage(1),
      ]);
      const second = Buffer.concat([
        headersFrames(3, enc.encode(grpcRequest('localhost', { huffman: true })), { padding: 2, splitAt: [5] }),
        emptyMessage(3),
      ]);
      c.holdReplies = true; // nothing of ours may land inside the half-written frame
      c.write(Buffer.concat([first, second.subarray(0, 12)]));
      await c.until('stream 1', () => c.answered(1) || c.reset(1) || c.closed);
      c.write(second.subarray(12));
      c.flushReplies();
      await c.until('stream 3', () => c.answered(3) || c.reset(3) || c.closed);
      assert.ok(c.answered(1) && c.answered(3), c.summary());
      for (let id = 5; id < 45; id += 2) await request(c, id, enc.encode(grpcRequest('localhost')));
      c.close();
      if (transport === 'grpc-js') assert.match(d.logs(), /CRI connection handed over.*filtered=false/);
    });

    it('answers a connection that never ACKs SETTINGS (grpc-js: through the filter)', async () => {
      const c = await RawConnection.open(d.socket, true, false);
      const enc = new TestEncoder();
      for (let id = 1; id < 11; id += 2) await request(c, id, enc.encode(grpcRequest('localhost')));
      c.close();
    });

    it('answers 400 concurrent streams on one connection', async () => {
      const c = await RawConnection.open(d.socket);
      const enc = new TestEncoder();
      const parts: Buffer[] = [];
      const ids = Array.from({ length: 400 }, (_, i) => 1 + 2 * i);
      for (const id of ids)
        parts.push(
          headersFrames(id, enc.encode(grpcRequest(`${PATH}.${id % 7}`, { huffman: id % 3 === 0 }))),
          emptyMessage(id),
        );
      c.write(Buffer.concat(parts));
      await c.until('all answered', () => c.closed || ids.every((id) => c.answered(id) || c.reset(id)), 60_000);
      assert.deepEqual(
        ids.filter((id) => !c.answered(id)),
        [],
      );
      c.close();
    });

    it('ends only the bad connections: garbage, cut-off frames, oversize or broken header blocks', async () => {
      const good = await RawConnection.open(d.socket);
      const enc = new TestEncoder();
      let goodId = 1;
      await request(good, goodId, enc.encode(grpcRequest(PATH)));
      const block = new TestEncoder().encode(grpcRequest(PATH));
      const refused: [string, Buffer][] = [
        ['HTTP/1.1 before the preface', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
        ['random bytes', Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 131 + 7) % 256))],
        ['a preface with one wrong byte', Buffer.from(CLIENT_PREFACE.toString('latin1').replace('SM', 'SN'), 'latin1')],
        [
          'an oversize HEADERS frame',
          Buffer.concat([CLIENT_PREFACE, frame(T.HEADERS, F.END_HEADERS, 1, Buffer.alloc(20000))]),
        ],
        [
          'a header block interrupted by DATA',
          Buffer.concat([CLIENT_PREFACE, frame(T.HEADERS, 0, 1, block.subarray(0, 5)), emptyMessage(1)]),
        ],
        [
          'an undecodable header block',
          Buffer.concat([
            CLIENT_PREFACE,
            frame(T.HEADERS, F.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])),
          ]),
        ],
        [
          'an endless CONTINUATION run',
          Buffer.concat([
            CLIENT_PREFACE,
            frame(T.HEADERS, 0, 1, Buffer.alloc(16384)),
            ...Array.from({ length: 20 }, () => frame(T.CONTINUATION, 0, 1, Buffer.alloc(16384))),
          ]),
        ],
      ];
      const cutOff: [string, Buffer][] = [
        ['nothing (connect, close)', Buffer.alloc(0)],
        ['half a preface', CLIENT_PREFACE.subarray(0, 10)],
        ['half a frame header', Buffer.concat([CLIENT_PREFACE, frame(T.SETTINGS, 0, 0).subarray(0, 5)])],
        [
          'half a HEADERS payload',
          Buffer.concat([CLIENT_PREFACE, headersFrames(1, block, { splitAt: [10] }).subarray(0, 30)]),
        ],
        [
          'half a DATA payload',
          Buffer.concat([
            CLIENT_PREFACE,
            headersFrames(1, block),
            frame(T.DATA, 0, 1, Buffer.alloc(5000)).subarray(0, 2000),
          ]),
        ],
      ];
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          refused.map(async ([what, bytes]) => {
            const c = await RawConnection.open(d.socket, false);
            c.write(bytes);
            await c.until(`${what}: closed by the daemon`, () => c.closed, 10_000);
          }),
        );
        await Promise.all(
          cutOff.map(async ([, bytes]) => {
            const c = await RawConnection.open(d.socket, false);
            c.write(bytes);
            await new Promise((r) => setTimeout(r, 20));
            c.close();
          }),
        );
        goodId += 2;
        await request(good, goodId, enc.encode(grpcRequest(PATH)));
      }
      good.close();
      assert.equal((await d.rt('Version', {})).runtime_name, 'crimux');
      const deadline = Date.now() + 10_000;
      while (fdCount(d.pid()) > baselineFds && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(fdCount(d.pid()) <= baselineFds, `daemon fds ${fdCount(d.pid())} back to ${baselineFds}`);
      assert.doesNotMatch(d.logs(), /uncaught|unhandled/i);
    });
  });
