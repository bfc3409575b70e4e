/** Unit tests: tokens (single use, TTL, cap), resize decoding, status encoding, protocol traits. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ResourceExhaustedError } from '../../src/errors';
import { protocolTraits } from '../../src/streaming/remotecommand/protocols';
import { ResizeDecoder } from '../../src/streaming/remotecommand/resize';
import {
  encodeStatus,
  exitCodeStatus,
  internalErrorStatus,
  successStatus,
} from '../../src/streaming/remotecommand/status';
import { TokenCache } from '../../src/streaming/tokens';

describe('TokenCache', () => {
  test('tokens are 256-bit base64url, single use, and expire', () => {
    let now = 1000;
    const c = new TokenCache<string>({ ttlMs: 500, now: () => now });
    const a = c.issue('a');
    const b = c.issue('b');
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b);
    assert.equal(c.consume(a), 'a');
    assert.equal(c.consume(a), undefined);
    now += 500;
    assert.equal(c.consume(b), undefined, 'expired');
  });

  test('outstanding tokens are capped; expired ones make room', () => {
    let now = 0;
    const c = new TokenCache<number>({ ttlMs: 100, maxInFlight: 2, now: () => now });
    c.issue(1);
    c.issue(2);
    assert.throws(() => c.issue(3), ResourceExhaustedError);
    now = 100;
    c.issue(3);
    assert.equal(c.size, 1);
  });
});

describe('ResizeDecoder', () => {
  test('objects split across chunks, several per chunk, any key case, junk ignored', () => {
    const d = new ResizeDecoder();
    assert.deepEqual(d.push('{"Width":80,'), []);
    assert.deepEqual(d.push('"Height":24}\n{"width":100,"height":30}{"Width":1'), [
      { width: 80, height: 24 },
      { width: 100, height: 30 },
    ]);
    assert.deepEqual(d.push('20,"Height":40}\n"junk" {"x":"}"} {"Width":-1,"Height":5}'), [
      { width: 120, height: 40 },
      { width: 0, height: 5 },
    ]);
  });

  test('a runaway object stops the decoder instead of buffering forever', () => {
    const d = new ResizeDecoder();
    d.push('{' + '"a":1,'.repeat(2000));
    assert.deepEqual(d.push('"Width":1,"Height":1}{"Width":2,"Height":2}'), []);
  });
});

describe('status', () => {
  test("v4 sends JSON shaped like the kubelet's metav1.Status; older versions text on failure only", () => {
    assert.equal(encodeStatus(successStatus(), true)?.toString(), '{"metadata":{},"status":"Success"}');
    assert.equal(encodeStatus(successStatus(), false), undefined);
    const failed = exitCodeStatus(3, ['sh', '-c', 'exit 3']);
    assert.deepEqual(JSON.parse(encodeStatus(failed, true)?.toString() ?? ''), {
      metadata: {},
      status: 'Failure',
      message: "command terminated with non-zero exit code: command 'sh -c exit 3' exited with 3",
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    assert.match(encodeStatus(internalErrorStatus('boom'), false)?.toString() ?? '', /^Internal error occurred: boom$/);
  });

  test('protocol traits', () => {
    assert.deepEqual(protocolTraits('v5.channel.k8s.io'), {
      statusJson: true,
      resizeStream: true,
      base64: false,
      closeSignal: true,
    });
    assert.deepEqual(protocolTraits('v4.base64.channel.k8s.io'), {
      statusJson: true,
      resizeStream: true,
      base64: true,
      closeSignal: false,
    });
    assert.deepEqual(protocolTraits('v3.channel.k8s.io'), {
      statusJson: false,
      resizeStream: true,
      base64: false,
      closeSignal: false,
    });
    assert.deepEqual(protocolTraits('channel.k8s.io'), {
      statusJson: false,
      resizeStream: false,
      base64: false,
      closeSignal: false,
    });
  });
});
