import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatReference, normalizeReference, parseReference } from '../../src/images/reference';
import { InvalidArgumentError } from '../../src/errors';

const D = 'sha256:' + 'a'.repeat(64);

describe('image references', () => {
  const good: [string, string, { domain: string; path: string; tag?: string; digest?: string }][] = [
    ['busybox', 'docker.io/library/busybox:latest', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', { domain: 'docker.io', path: 'library/busybox', tag: '1.36' }],
    ['library/busybox', 'docker.io/library/busybox:latest', { domain: 'docker.io', path: 'library/busybox' }],
    ['crimux/layers:1', 'docker.io/crimux/layers:1', { domain: 'docker.io', path: 'crimux/layers' }],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', { domain: 'docker.io', path: 'library/busybox' }],
    [
      'index.docker.io/library/busybox:1',
      'docker.io/library/busybox:1',
      { domain: 'docker.io', path: 'library/busybox' },
    ],
    [
      'registry.k8s.io/pause:3.9',
      'registry.k8s.io/pause:3.9',
      { domain: 'registry.k8s.io', path: 'pause', tag: '3.9' },
    ],
    ['localhost/foo', 'localhost/foo:latest', { domain: 'localhost', path: 'foo' }],
    ['localhost:5000/foo/bar:v1', 'localhost:5000/foo/bar:v1', { domain: 'localhost:5000', path: 'foo/bar' }],
    [`host:5000/a/b@${D}`, `host:5000/a/b@${D}`, { domain: 'host:5000', path: 'a/b', digest: D }],
    [
      `busybox:1.36@${D}`,
      `docker.io/library/busybox@${D}`,
      { domain: 'docker.io', path: 'library/busybox', digest: D },
    ],
    ['127.0.0.1:5000/crimux/http:1', '127.0.0.1:5000/crimux/http:1', { domain: '127.0.0.1:5000', path: 'crimux/http' }],
    ['[::1]:5000/a:b', '[::1]:5000/a:b', { domain: '[::1]:5000', path: 'a' }],
    ['quay.io/a/b-c_d.e__f:Tag_1.x-y', 'quay.io/a/b-c_d.e__f:Tag_1.x-y', { domain: 'quay.io', path: 'a/b-c_d.e__f' }],
    ['Example.COM/a', 'Example.COM/a:latest', { domain: 'Example.COM', path: 'a' }],
    ['a--b/c', 'docker.io/a--b/c:latest', { domain: 'docker.io', path: 'a--b/c' }],
  ];
  for (const [input, normalised, parts] of good) {
    it(`parses ${input}`, () => {
      const ref = parseReference(input);
      assert.equal(formatReference(ref), normalised);
      assert.equal(normalizeReference(input), normalised);
      for (const [k, v] of Object.entries(parts)) assert.equal(ref[k as keyof typeof ref], v, k);
      if (parts.digest) assert.equal(ref.tag, undefined, 'a digest drops the tag');
    });
  }

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['docker.io/Library/busybox', /lowercase/],
    ['busybox:', /tag/],
    ['busybox:-x', /tag/],
    [`busybox:${'t'.repeat(129)}`, /tag/],
    ['busybox@sha256:abc', /digest/],
    [`busybox@sha256:${'A'.repeat(64)}`, /digest/],
    ['busybox@', /digest/],
    ['a'.repeat(64), /64-byte/],
    ['/busybox', /repository/],
    ['busybox/', /repository/],
    ['a//b', /repository/],
    ['-a/b', /repository|host/],
    ['a_/b', /repository/],
    ['ex ample.com/a', /host|repository/],
    ['host:port/a', /host|tag/],
    [`example.com/${'a'.repeat(260)}`, /too long/],
    [':tag', /empty/],
  ];
  for (const [input, why] of bad) {
    it(`refuses ${JSON.stringify(input.slice(0, 40))}`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, String(err));
          assert.match(err.message, why);
          return true;
        },
      );
    });
  }
});
