/**
 * DigestMeter (src/images/digest.ts): the pass-through hash and counter every layer byte goes through, and its
 * scan for the whiteout prefix that decides whether a layer needs whiteout conversion. The scan must find the
 * needle wherever chunk boundaries fall, and must not copy whole chunks to do it (that doubled a pull's GC work).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { DigestMeter } from '../../src/images/digest';

async function feed(chunks: Buffer[], needle = '.wh.'): Promise<DigestMeter> {
  const meter = new DigestMeter({ needle: Buffer.from(needle) });
  await pipeline(
    Readable.from(chunks),
    meter,
    new Writable({
      write: (_c, _e, cb) => {
        cb();
      },
    }),
  );
  return meter;
}

/** `text` cut into pieces at the given offsets. */
function cut(text: string, at: number[]): Buffer[] {
  const b = Buffer.from(text);
  const edges = [0, ...at, b.length];
  return edges.slice(1).map((end, i) => b.subarray(edges[i], end));
}

describe('DigestMeter needle scan', () => {
  const text = 'usr/lib/a.txt\0....usr/lib/.wh.gone\0tail';
  const at = text.indexOf('.wh.');

  it('finds the needle inside one chunk', async () => {
    assert.equal((await feed([Buffer.from(text)])).sawNeedle, true);
  });

  it('finds the needle split across two chunks at every position', async () => {
    for (let k = 1; k < 4; k++) {
      const m = await feed(cut(text, [at + k]));
      assert.equal(m.sawNeedle, true, `split after ${k} needle bytes`);
    }
  });

  it('finds the needle spread over chunks shorter than itself', async () => {
    const m = await feed(cut(text, [at - 1, at + 1, at + 2, at + 3, at + 5]));
    assert.equal(m.sawNeedle, true);
  });

  it('finds the needle when it is the first bytes of the stream, or the last', async () => {
    assert.equal((await feed([Buffer.from('.wh.x')])).sawNeedle, true);
    assert.equal((await feed(cut('abc.wh.', [5]))).sawNeedle, true);
  });

  it('does not report a needle that is not there, even with a near miss at a boundary', async () => {
    const near = 'aaa.wh' + 'b.wh' + 'x';
    for (let k = 1; k < near.length; k++) assert.equal((await feed(cut(near, [k]))).sawNeedle, false);
    assert.equal((await feed(cut('.w', [1]))).sawNeedle, false);
  });

  it('hashes and counts every byte whatever the chunking', async () => {
    const data = Buffer.from(text.repeat(100));
    const m = await feed(cut(data.toString(), [1, 2, 3, 700, 701, 2000]));
    assert.equal(m.bytes, data.length);
    assert.equal(m.digest(), `sha256:${createHash('sha256').update(data).digest('hex')}`);
  });
});
