/** Table tests of the CRI log format, the copier's resume bookkeeping and the image names shown to the kubelet. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ResumeFilter, frameToLine, laterPosition, positionOfTail } from '../../src/backends/docker/cri-log';
import { MirrorMap, criNames, imageUser } from '../../src/backends/docker/image-names';

const T1 = '2026-11-28T15:16:12.996034597Z';
const T1NS = 1795878972996034597n;
const T2 = '2026-11-28T15:16:13.000000001Z';
const T2NS = 1795878973000000001n;

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
  it('reads the last timestamp and how many lines end with it', () => {
    const text = `${T1} stdout F a\n${T2} stdout P b\n${T2} stdout F c\n`;
    assert.deepEqual(positionOfTail(text), { ts: T2NS, count: 2 });
  });
  it('skips a torn last line', () => {
    assert.deepEqual(positionOfTail(`${T1} stdout F a\n2026-11-28T15:1`), { ts: T1NS, count: 1 });
  });
  it('has none for an empty file', () => assert.equal(positionOfTail(''), null));
  it('picks the later position', () => {
    const a = { ts: T1NS, count: 3 };
    const b = { ts: T2NS, count: 1 };
    assert.equal(laterPosition(a, b), b);
    assert.equal(laterPosition(null, a), a);
    assert.deepEqual(laterPosition({ ts: T1NS, count: 1 }, a), a);
  });

  it('writes each message exactly once across a resume', () => {
    // Docker replays from `since` inclusive: both messages at T2 come again after a restart.
    const stream = [T1NS, T2NS, T2NS, T2NS + 5n];
    const first = new ResumeFilter(null);
    const written1 = stream.slice(0, 3).filter((t) => first.accept(t));
    assert.equal(written1.length, 3);
    const resumed = new ResumeFilter(first.position);
    const replay = [T2NS, T2NS, T2NS + 5n];
    const written2 = replay.filter((t) => resumed.accept(t));
    assert.deepEqual(written2, [T2NS + 5n]);
    assert.deepEqual(resumed.position, { ts: T2NS + 5n, count: 1 });
  });

  it('skips the replay again after rewind (a new follow session in the same copier)', () => {
    const f = new ResumeFilter(null);
    assert.ok(f.accept(T1NS));
    f.rewind();
    assert.equal(f.accept(T1NS), false, 'the replayed message is not written twice');
    assert.ok(f.accept(T2NS));
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
