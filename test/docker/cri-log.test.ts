/** Table tests of the CRI log format, the copier's resume bookkeeping and the image names shown to the kubelet. */
import { after, before, describe, it } from 'node:test';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import {
  REPLAY_WINDOW_NS,
  ResumeFilter,
  frameToLine,
  laterPosition,
  lineDigest,
  positionOfTail,
} from '../../src/backends/docker/cri-log';
import { parseRfc3339Ns } from '../../src/backends/docker/timestamps';
import { LogPositions } from '../../src/backends/docker/log-position';
import { openLog } from '../../src/backends/docker/log-copier';
import { createBackendHost } from '../../src/backends/default-host';
import { MirrorMap, criNames, digestTag, imageUser } from '../../src/backends/docker/image-names';

const T1 = '2026-11-28T15:16:12.996034597Z';
const T1NS = 1795878972996034597n;
const T2 = '2026-11-28T15:16:13.000000001Z';

describe('CRI log lines', () => {
  const cases: [string, 'stdout' | 'stderr', string, string][] = [
    ['full line', 'stdout', `${T1} hello\n`, `${T1} stdout F hello\n`],
    ['partial chunk', 'stderr', `${T1} part`, `${T1} stderr P part\n`],
    ['empty line', 'stdout', `${T1} \n`, `${T1} stdout F \n`],
    ['carriage return kept', 'stdout', `${T1} a\r\n`, `${T1} stdout F a\r\n`],
  ];
  for (const [what, stream, payload, want] of cases) {
    it(what, () => assert.equal(frameToLine(stream, Buffer.from(payload))?.line.toString(), want));
  }
  it('refuses a message without a timestamp', () => assert.equal(frameToLine('stdout', Buffer.from('hello\n')), null));
});

describe('resume position', () => {
  const line = (ts: string, stream: string, text: string): Buffer => Buffer.from(`${ts} ${stream} F ${text}\n`);
  const at = (ts: string, stream: string, text: string, count = 1) => ({
    ts: parseRfc3339Ns(ts) as bigint,
    digest: lineDigest(line(ts, stream, text)),
    count,
  });
  const T0 = '2026-11-28T15:16:12.996034Z'; // stamped before T1, as Docker's other stream's goroutine may

  it('names the last line and counts its identical copies', () => {
    const tail = Buffer.concat([line(T1, 'stdout', 'a'), line(T2, 'stdout', 'b'), line(T2, 'stdout', 'b')]);
    assert.deepEqual(positionOfTail(tail), at(T2, 'stdout', 'b', 2));
  });
  it('takes the last line, not the latest timestamp', () => {
    const tail = Buffer.concat([line(T1, 'stdout', 'a'), line(T0, 'stderr', 'e')]);
    assert.deepEqual(positionOfTail(tail), at(T0, 'stderr', 'e'));
  });
  it('skips a torn last line', () => {
    const tail = Buffer.concat([line(T1, 'stdout', 'a'), Buffer.from('2026-11-28T15:1')]);
    assert.deepEqual(positionOfTail(tail), at(T1, 'stdout', 'a'));
  });
  it('has none for an empty file', () => assert.equal(positionOfTail(Buffer.alloc(0)), null));
  it('picks the later position', () => {
    const a = at(T1, 'stdout', 'a', 3);
    const b = at(T2, 'stdout', 'b');
    assert.equal(laterPosition(a, b), b);
    assert.equal(laterPosition(null, a), a);
    assert.deepEqual(laterPosition(at(T1, 'stdout', 'a'), a), a);
  });

  /** Runs `msgs` through a filter and returns the texts written. */
  const run = (f: ResumeFilter, msgs: [string, string, string][]): string[] =>
    msgs.filter(([ts, st, text]) => f.accept(parseRfc3339Ns(ts) as bigint, line(ts, st, text))).map((m) => m[2]);

  it('writes a message stamped earlier than the one before it (Docker stamps each stream separately)', () => {
    const f = new ResumeFilter(null);
    assert.deepEqual(
      run(f, [
        [T1, 'stdout', 'out'],
        [T0, 'stderr', 'err'],
        [T2, 'stdout', 'next'],
      ]),
      ['out', 'err', 'next'],
    );
  });

  it('writes each message exactly once across a resume, out-of-order stamps included', () => {
    const stream: [string, string, string][] = [
      [T1, 'stdout', 'a'],
      [T2, 'stdout', 'b'],
      [T2, 'stdout', 'b'], // a long line's identical chunks share a timestamp
      [T0, 'stderr', 'late'],
      [T2, 'stdout', 'c'],
    ];
    for (let cut = 0; cut <= stream.length; cut++) {
      const first = new ResumeFilter(null);
      const written = run(first, stream.slice(0, cut));
      const resumed = new ResumeFilter(first.position);
      // Docker replays everything stamped at or after `since`, in its own order.
      const since = resumed.sinceNs() ?? 0n;
      const replay = stream.filter(([ts]) => (parseRfc3339Ns(ts) as bigint) >= since);
      assert.deepEqual([...written, ...run(resumed, replay)], ['a', 'b', 'b', 'late', 'c'], `cut after ${cut}`);
    }
  });

  it('writes each message once when resumed from the file and replayed again (reconnects, the final drain)', () => {
    const chunk = 'x'.repeat(40);
    // A long repeated line: identical chunks at one timestamp, the other stream's messages between them.
    const stream: [string, string, string][] = [
      [T1, 'stdout', 'a'],
      [T2, 'stdout', chunk],
      [T2, 'stdout', chunk],
      [T0, 'stderr', 'late'],
      [T2, 'stdout', chunk],
      [T2, 'stdout', chunk],
      [T1, 'stderr', 'e'],
      [T2, 'stdout', chunk],
      [T2, 'stdout', 'end'],
    ];
    const texts = stream.map((m) => m[2]);
    // What Docker replays for a session from `f`'s position, once its log holds the first `upTo` messages.
    const replay = (f: ResumeFilter, upTo: number): [string, string, string][] => {
      const since = f.sinceNs() ?? 0n;
      return stream.slice(0, upTo).filter(([ts]) => (parseRfc3339Ns(ts) as bigint) >= since);
    };
    for (let cut = 0; cut <= stream.length; cut++) {
      for (let drop = cut; drop <= stream.length; drop++) {
        const written = run(new ResumeFilter(null), stream.slice(0, cut));
        // After a crash the position comes from the file itself.
        const file = Buffer.concat(stream.slice(0, cut).map(([ts, st, text]) => line(ts, st, text)));
        const resumed = new ResumeFilter(positionOfTail(file));
        // Its follow session drops when Docker's log holds `drop` messages; the next one (or the drain after the
        // container exited) replays again.
        written.push(...run(resumed, replay(resumed, drop)));
        resumed.rewind();
        written.push(...run(resumed, replay(resumed, stream.length)));
        assert.deepEqual(written, texts, `crash after ${cut}, reconnect after ${drop}`);
      }
    }
  });

  it('resumes from a position saved by an earlier crimux (no line named) as that version did', () => {
    const f = new ResumeFilter({ ts: T1NS, digest: '', count: 1 });
    assert.equal(f.sinceNs(), T1NS);
    assert.deepEqual(
      run(f, [
        [T1, 'stdout', 'old'],
        [T1, 'stdout', 'new'],
        [T2, 'stdout', 'next'],
      ]),
      ['new', 'next'],
    );
  });

  it('starts the replay a window before the last line', () => {
    const f = new ResumeFilter(at(T1, 'stdout', 'a'));
    assert.equal(f.sinceNs(), T1NS - REPLAY_WINDOW_NS);
    assert.equal(new ResumeFilter(null).sinceNs(), undefined);
  });

  it('copies on when Docker no longer has the last written line', () => {
    const f = new ResumeFilter(at(T1, 'stdout', 'gone'));
    const later = '2026-11-28T15:16:20Z';
    assert.deepEqual(
      run(f, [
        [T2, 'stdout', 'x'],
        [later, 'stdout', 'y'],
      ]),
      ['y'],
    );
  });

  it('skips the replay again after rewind (a new follow session in the same copier)', () => {
    const f = new ResumeFilter(null);
    assert.deepEqual(run(f, [[T1, 'stdout', 'a']]), ['a']);
    f.rewind();
    assert.deepEqual(
      run(f, [
        [T1, 'stdout', 'a'],
        [T2, 'stdout', 'b'],
      ]),
      ['b'],
    );
  });
});

describe('resume position on disk', () => {
  const T0 = '2026-11-28T15:16:12.996034Z';
  const line = (text: string): string => `${T1} stdout P ${text}\n`;
  let dir = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-cri-log-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('counts every identical copy that ends a log, beyond the first 64 KiB read', async () => {
    const chunk = 'y'.repeat(16 * 1024); // Docker's chunks of one long repeated line
    const file = path.join(dir, 'long.log');
    await fs.writeFile(file, `${T0} stdout F before\n` + line(chunk).repeat(9));
    const { position } = await new LogPositions(path.join(dir, 'pos'), createBackendHost().files).resumePoint(
      'c',
      file,
    );
    assert.equal(position?.count, 9);
    assert.equal(position?.digest, lineDigest(Buffer.from(line(chunk))));
  });

  it('cuts off a line torn by a crash before appending again', async () => {
    const file = path.join(dir, 'torn.log');
    await fs.writeFile(file, line('whole') + '2026-11-28T15:16:12.99');
    const fh = await openLog(file);
    await fh.write(line('next'));
    await fh.close();
    assert.equal(await fs.readFile(file, 'utf8'), line('whole') + line('next'));
    await fs.writeFile(file, 'torn without any newline');
    await (await openLog(file)).close();
    assert.equal(await fs.readFile(file, 'utf8'), '');
  });
});

describe('image names through registry replacement', () => {
  const mirrors = new MirrorMap({
    'docker.io': { endpoints: [{ url: 'http://127.0.0.1:5000' }] },
    'registry.k8s.io': { endpoints: [{ url: 'http://127.0.0.1:5000' }] },
  });
  const DG = 'sha256:' + 'a'.repeat(64);

  it('hides the endpoint tag and reports the digest under the requested repository', () => {
    const got = criNames(
      ['127.0.0.1:5000/pause:3.9', 'registry.k8s.io/pause:3.9'],
      [`127.0.0.1:5000/pause@${DG}`],
      mirrors,
    );
    assert.deepEqual(got, { repoTags: ['registry.k8s.io/pause:3.9'], repoDigests: [`registry.k8s.io/pause@${DG}`] });
  });

  it("normalises Docker's familiar names", () => {
    const got = criNames(
      ['busybox:1.36', '127.0.0.1:5000/library/busybox:1.36'],
      [`127.0.0.1:5000/library/busybox@${DG}`],
      mirrors,
    );
    assert.deepEqual(got, {
      repoTags: ['docker.io/library/busybox:1.36'],
      repoDigests: [`docker.io/library/busybox@${DG}`],
    });
  });

  it('reports a digest pulled from an endpoint under the requested repository, and hides the tag that records it', () => {
    const got = criNames(
      [`registry.k8s.io/pause:${digestTag(DG)}`],
      [`127.0.0.1:5000/pause@${DG}`, `127.0.0.1:5000/pause@sha256:${'b'.repeat(64)}`],
      mirrors,
    );
    assert.deepEqual(got, {
      repoTags: [],
      repoDigests: [`registry.k8s.io/pause@${DG}`, `127.0.0.1:5000/pause@sha256:${'b'.repeat(64)}`],
    });
  });

  it("hides only a recording tag of one of the image's own digests", () => {
    const other = `registry.k8s.io/pause:${digestTag(`sha256:${'f'.repeat(64)}`)}`;
    const got = criNames([other, 'registry.k8s.io/pause:crimux-digest-mine'], [`127.0.0.1:5000/pause@${DG}`], mirrors);
    assert.deepEqual(got.repoTags, [other, 'registry.k8s.io/pause:crimux-digest-mine']);
  });

  it("keeps the recording tag within Docker's 128 characters, for every digest crimux accepts", () => {
    for (const d of [DG, `sha384:${'c'.repeat(96)}`, `sha512:${'d'.repeat(128)}`]) {
      assert.match(digestTag(d), /^[\w][\w.-]{0,127}$/, d);
    }
  });

  it('keeps names it cannot attribute', () => {
    const got = criNames(['127.0.0.1:5000/x:1', '<none>:<none>'], [`127.0.0.1:5000/x@${DG}`], mirrors);
    assert.deepEqual(got, { repoTags: ['127.0.0.1:5000/x:1'], repoDigests: [`127.0.0.1:5000/x@${DG}`] });
  });

  it('knows which hosts are replaced', () => {
    assert.deepEqual(mirrors.endpointHosts('docker.io'), ['127.0.0.1:5000']);
    assert.deepEqual(mirrors.endpointHosts('quay.io'), []);
    assert.equal(new MirrorMap({ '*': { endpoints: [{ url: 'http://m:1' }] } }).serves('m:1', 'quay.io'), true);
  });

  const users: [string | undefined, ReturnType<typeof imageUser>][] = [
    [undefined, {}],
    ['', {}],
    ['65535:65535', { uid: '65535' }],
    ['www-data', { username: 'www-data' }],
    ['nobody:users', { username: 'nobody' }],
  ];
  for (const [user, want] of users)
    it(`image user ${JSON.stringify(user)}`, () => assert.deepEqual(imageUser(user), want));
});
