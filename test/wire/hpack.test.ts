/**
 * Unit tests of the authority filter's HPACK side: the Huffman code, the decoder's dynamic table against RFC 7541
 * Appendix C and a test encoder, and the block rewrite for every literal representation, raw and Huffman, at
 * many lengths.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { huffmanDecode, huffmanEncode } from '../../src/cri/wire/huffman';
import { HpackDecoder } from '../../src/cri/wire/hpack-decoder';
import { acceptableAuthority, isAcceptedAuthority, rewriteHeaderBlock } from '../../src/cri/wire/authority';
import { TestEncoder, encodeInteger, type FieldSpec, type Representation } from './hpack-encoder';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const decode = (b: Buffer): Buffer => huffmanDecode(b, 0, b.length);

describe('huffman', () => {
  it('matches RFC 7541 C.4.1 and round-trips every byte value', () => {
    assert.deepEqual(huffmanEncode(Buffer.from('www.example.com')), hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
    assert.equal(decode(hex('a8eb 1064 9cbf')).toString(), 'no-cache');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.deepEqual(decode(huffmanEncode(all)), all);
    for (let len = 0; len < 40; len++) {
      const s = Buffer.from('/run/crimux/crimux.sock:x@[]%_'.repeat(2).slice(0, len));
      assert.deepEqual(decode(huffmanEncode(s)), s);
    }
  });

  const invalid: [string, Buffer][] = [
    ['padding longer than 7 bits', Buffer.concat([huffmanEncode(Buffer.from('ab')), Buffer.from([0xff])])],
    ['padding not of ones', hex('00')], // '0' is 00000; the 3 zero bits left are not EOS's prefix
    ['an EOS symbol', hex('ff ff ff ff')],
  ];
  for (const [what, bytes] of invalid) {
    it(`rejects ${what}`, () => assert.throws(() => decode(bytes), /huffman/));
  }
});

describe('hpack decoder', () => {
  const rfc: [string, string[]][] = [
    [
      'C.3 (raw strings)',
      [
        '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '8286 84be 5808 6e6f 2d63 6163 6865',
        '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      ],
    ],
    [
      'C.4 (Huffman strings)',
      [
        '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        '8286 84be 5886 a8eb 1064 9cbf',
        '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      ],
    ],
  ];
  for (const [title, blocks] of rfc) {
    it(`follows RFC 7541 ${title}: table sizes 57, 110, 164 and the authority literal`, () => {
      const d = new HpackDecoder();
      const found = blocks.map((b) => d.scan(hex(b)).map((l) => l.value.toString()));
      assert.deepEqual(found, [['www.example.com'], [], []]);
      assert.equal(d.tableSize, 164);
    });
  }

  it('applies size updates and evicts like the encoder', () => {
    const enc = new TestEncoder();
    const dec = new HpackDecoder();
    const blocks: FieldSpec[][] = [
      [
        { name: 'x-a', value: 'v'.repeat(1000) },
        { name: 'x-b', value: 'w'.repeat(2000) },
      ],
      [{ name: 'x-c', value: 'u'.repeat(1500), huffman: true }],
      [{ sizeUpdate: 1100 }, { name: 'x-d', value: 'q'.repeat(100) }],
      [{ sizeUpdate: 0 }, { sizeUpdate: 4096 }, { name: 'x-e', value: 'big'.repeat(2000) }],
      [{ name: ':authority', nameIndex: 1, value: '/a/b' }, { index: 62 }],
    ];
    for (const b of blocks) {
      dec.scan(enc.encode(b));
      assert.equal(dec.tableSize, enc.tableSize);
    }
  });

  const bad: [string, Buffer][] = [
    ['an index past the table', encodeInteger(70, 7, 0x80)],
    ['index 0', hex('80')],
    ['a truncated integer', hex('ff ff')],
    ['a string past the block', hex('41 05 61')],
    ['an integer overflow', hex('ff ff ff ff ff ff 7f')],
    ['a size update over the limit', encodeInteger(1 << 20, 5, 0x20)],
  ];
  for (const [what, block] of bad) {
    it(`rejects ${what}`, () => assert.throws(() => new HpackDecoder().scan(block), /hpack/));
  }
});

describe('authority rewrite', () => {
  it("knows nghttp2's alphabet (which refuses an empty authority)", () => {
    assert.ok(!isAcceptedAuthority(Buffer.alloc(0)));
    for (const ok of ['localhost', 'localhost:1234', 'a_b-c.d~e', '[::1]:80', 'u@h', '%2F', "!$&'()*+,;="]) {
      assert.ok(isAcceptedAuthority(Buffer.from(ok)), ok);
    }
    for (const no of [
      '/run/x.sock',
      'a b',
      'a"b',
      'a#b',
      'a<b',
      'a?b',
      'a\\b',
      'a^b',
      'a`b',
      'a{b',
      'a|b',
      'é',
      '\x00',
    ]) {
      assert.ok(!isAcceptedAuthority(Buffer.from(no, 'latin1')), no);
    }
    assert.equal(acceptableAuthority(Buffer.from('/run/crimux/crimux.sock')).toString(), '_run_crimux_crimux.sock');
  });

  const reps: { as: Representation; newName: boolean }[] = [];
  for (const as of ['incremental', 'without', 'never'] as const)
    for (const newName of [false, true]) reps.push({ as, newName });
  const lengths = [
    0, 1, 2, 7, 30, 62, 63, 64, 126, 127, 128, 129, 254, 255, 300, 1000, 4000, 5000, 16383, 16384, 20000,
  ];

  for (const { as, newName } of reps) {
    for (const huffman of [false, true]) {
      it(`rewrites a ${as} literal (${newName ? 'new' : 'indexed'} name, ${huffman ? 'Huffman' : 'raw'}) at ${lengths.length} lengths`, () => {
        const enc = new TestEncoder();
        const dec = new HpackDecoder();
        const check = new HpackDecoder();
        for (const len of lengths) {
          const path = '/run/crimux/'.repeat(Math.ceil(len / 12) + 1).slice(0, len);
          const field = { name: ':authority', value: path, as, huffman, ...(newName ? {} : { nameIndex: 1 }) };
          const fields: FieldSpec[] = [
            { index: 3 },
            { name: 'x-before', value: 'b', as: 'without' },
            field,
            { name: 'x-after', value: 'a' },
          ];
          const block = enc.encode(fields);
          const out = rewriteHeaderBlock(dec, block);
          const wanted = len > 0 ? path.replaceAll('/', '_') : 'localhost';
          if (len === 0 && as === 'incremental') {
            assert.equal(out, null, 'an accepted authority passes untouched');
            check.scan(block);
          } else {
            assert.ok(out);
            const lits = check.scan(out);
            assert.deepEqual(
              lits.map((l) => l.value.toString()),
              [wanted],
            );
            // Every byte around the one string is as sent.
            const at = lits[0]!;
            assert.deepEqual(out.subarray(0, at.valueStart), block.subarray(0, at.valueStart));
            const tail = out.length - at.valueEnd;
            assert.deepEqual(out.subarray(at.valueEnd), block.subarray(block.length - tail));
          }
          // The table the server builds from the rewritten block has the size the client's encoder expects.
          assert.equal(dec.tableSize, enc.tableSize);
          assert.equal(check.tableSize, enc.tableSize);
        }
      });
    }
  }

  it('rewrites both :authority and host, several in one block, and leaves an indexed reference alone', () => {
    const enc = new TestEncoder();
    const block = enc.encode([
      { name: ':authority', nameIndex: 1, value: '/a' },
      { name: 'host', nameIndex: 38, value: '/b', huffman: true, as: 'never' },
      { name: 'host', value: 'ok', as: 'without' },
      { index: 62 },
    ]);
    const check = new HpackDecoder();
    const lits = check.scan(rewriteHeaderBlock(new HpackDecoder(), block)!);
    assert.deepEqual(
      lits.map((l) => l.value.toString()),
      ['_a', '_b', 'ok'],
    );
  });
});
