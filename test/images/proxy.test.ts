import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeProxy,
  ipBytes,
  proxyAuthorization,
  proxyFor,
  proxyFromEnv,
  useProxy,
  type Env,
} from '../../src/images/proxy';
import { FailedPreconditionError } from '../../src/errors';

const P = 'http://proxy.corp:3128';
/** The proxy chosen for a URL under an environment, as a string ('' for direct). */
const via = (env: Env, url: string): string => proxyFor(proxyFromEnv(env), new URL(url))?.href ?? '';
/** True when NO_PROXY=`noProxy` leaves `url` proxied. */
const proxied = (noProxy: string, url: string): boolean =>
  via({ HTTPS_PROXY: P, HTTP_PROXY: P, NO_PROXY: noProxy }, url) !== '';

describe('proxy selection (Go net/http semantics)', () => {
  it('uses HTTPS_PROXY for https and HTTP_PROXY for http, with no fallback between them', () => {
    assert.equal(via({ HTTPS_PROXY: P }, 'https://registry.example/v2/'), `${P}/`);
    assert.equal(via({ HTTPS_PROXY: P }, 'http://registry.example/v2/'), '');
    assert.equal(via({ HTTP_PROXY: P }, 'https://registry.example/v2/'), '');
    assert.equal(via({ HTTP_PROXY: P }, 'http://registry.example/v2/'), `${P}/`);
    assert.equal(via({}, 'https://registry.example/'), '');
  });

  it('reads lowercase forms; the uppercase one wins when both are set, an empty one does not count', () => {
    assert.equal(via({ https_proxy: P }, 'https://r.example/'), `${P}/`);
    assert.equal(
      via({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2' }, 'https://r.example/'),
      'http://upper:1/',
    );
    assert.equal(via({ HTTPS_PROXY: '', https_proxy: 'http://lower:2' }, 'https://r.example/'), 'http://lower:2/');
    assert.equal(via({ HTTPS_PROXY: P, no_proxy: 'r.example' }, 'https://r.example/'), '');
    assert.equal(
      via({ HTTPS_PROXY: P, NO_PROXY: 'other.example', no_proxy: 'r.example' }, 'https://r.example/'),
      `${P}/`,
    );
  });

  it('takes a bare host:port as http://; ignores a value that is no URL (with a warning)', () => {
    assert.equal(via({ HTTPS_PROXY: 'proxy.corp:3128' }, 'https://r.example/'), 'http://proxy.corp:3128/');
    assert.equal(via({ HTTPS_PROXY: '10.0.0.1:3128' }, 'https://r.example/'), 'http://10.0.0.1:3128/');
    const cfg = proxyFromEnv({ HTTPS_PROXY: 'http://user:s3cret@[bad' });
    assert.equal(cfg.httpsProxy, undefined);
    assert.equal(cfg.warnings.length, 1);
    assert.doesNotMatch(cfg.warnings[0] ?? '', /s3cret/);
  });

  it('never proxies localhost or loopback literals, whatever NO_PROXY says', () => {
    for (const u of [
      'https://localhost:5000/',
      'https://127.0.0.1:5000/',
      'https://127.9.9.9/',
      'https://[::1]:5000/',
      'https://[::ffff:127.0.0.1]/',
      'http://LOCALHOST/',
    ])
      assert.equal(proxied('', u), false, u);
    // Only literals: a name is not resolved, so one that happens to point at loopback is proxied.
    assert.equal(proxied('', 'https://registry.test:5000/'), true);
    assert.equal(proxied('', 'https://foo.localhost/'), true);
  });

  it('NO_PROXY "*" turns the proxy off for every host', () => {
    assert.equal(proxied('*', 'https://r.example/'), false);
    assert.equal(proxied(' * ', 'https://10.1.2.3/'), false);
    assert.equal(proxied('a.example, *', 'https://r.example/'), false);
  });

  it('NO_PROXY names match the host and its subdomains; a leading dot or *. only subdomains', () => {
    assert.equal(proxied('example.com', 'https://example.com/'), false);
    assert.equal(proxied('example.com', 'https://reg.example.com/'), false);
    assert.equal(proxied('example.com', 'https://a.b.example.com/'), false);
    assert.equal(proxied('example.com', 'https://notexample.com/'), true);
    assert.equal(proxied('example.com', 'https://example.com.evil/'), true);
    assert.equal(proxied('.example.com', 'https://example.com/'), true);
    assert.equal(proxied('.example.com', 'https://reg.example.com/'), false);
    assert.equal(proxied('*.example.com', 'https://example.com/'), true);
    assert.equal(proxied('*.example.com', 'https://reg.example.com/'), false);
    assert.equal(proxied('EXAMPLE.com', 'https://Reg.Example.COM/'), false);
    assert.equal(proxied(' foo.org , example.com ,', 'https://example.com/'), false);
    assert.equal(proxied('', 'https://example.com/'), true);
  });

  it('NO_PROXY entries with a port match that port only (the scheme default when the URL has none)', () => {
    assert.equal(proxied('example.com:5000', 'https://example.com:5000/'), false);
    assert.equal(proxied('example.com:5000', 'https://example.com/'), true);
    assert.equal(proxied('example.com:443', 'https://example.com/'), false);
    assert.equal(proxied('example.com:80', 'http://example.com/'), false);
    assert.equal(proxied('example.com:80', 'https://example.com/'), true);
    assert.equal(proxied('.example.com:5000', 'https://reg.example.com:5000/'), false);
    assert.equal(proxied(':5000', 'https://example.com:5000/'), true); // no host: ignored
  });

  it('NO_PROXY IPs and CIDRs match IP literal hosts only', () => {
    assert.equal(proxied('10.1.2.3', 'https://10.1.2.3:5000/'), false);
    assert.equal(proxied('10.1.2.3', 'https://10.1.2.4/'), true);
    assert.equal(proxied('10.1.2.3:5000', 'https://10.1.2.3:5000/'), false);
    assert.equal(proxied('10.1.2.3:5000', 'https://10.1.2.3:5001/'), true);
    assert.equal(proxied('10.0.0.0/8', 'https://10.200.3.4/'), false);
    assert.equal(proxied('10.0.0.0/8', 'https://11.0.0.1/'), true);
    assert.equal(proxied('192.168.0.0/16', 'https://192.168.44.1:5000/'), false);
    assert.equal(proxied('172.16.0.0/12', 'https://172.31.255.255/'), false);
    assert.equal(proxied('172.16.0.0/12', 'https://172.32.0.0/'), true);
    assert.equal(proxied('2001:db8::/32', 'https://[2001:db8:1::5]/'), false);
    assert.equal(proxied('2001:db8::/32', 'https://[2001:db9::5]/'), true);
    assert.equal(proxied('2001:db8::5', 'https://[2001:db8:0:0::5]/'), false);
    assert.equal(proxied('[2001:db8::5]:5000', 'https://[2001:db8::5]:5000/'), false);
    assert.equal(proxied('[2001:db8::5]:5000', 'https://[2001:db8::5]/'), true);
    // No DNS: a name is not in a CIDR, an IP literal is not matched by a name entry.
    assert.equal(proxied('10.0.0.0/8', 'https://registry.corp/'), true);
    // An IPv4 network does not hold IPv6 addresses and the reverse.
    assert.equal(proxied('::/0', 'https://10.1.2.3/'), true);
    assert.equal(proxied('0.0.0.0/0', 'https://[2001:db8::1]/'), true);
    assert.equal(proxied('0.0.0.0/0', 'https://10.1.2.3/'), false);
  });

  it('refuses HTTP_PROXY in a CGI environment and proxies of an unsupported scheme, rather than going direct', () => {
    assert.throws(() => via({ HTTP_PROXY: P, REQUEST_METHOD: 'GET' }, 'http://r.example/'), FailedPreconditionError);
    assert.equal(via({ HTTPS_PROXY: P, REQUEST_METHOD: 'GET' }, 'https://r.example/'), `${P}/`);
    assert.throws(
      () => via({ HTTPS_PROXY: 'socks5://proxy:1080' }, 'https://r.example/'),
      /only http:\/\/ and https:\/\//,
    );
    // …but only for requests that would use it.
    assert.equal(via({ HTTPS_PROXY: 'socks5://proxy:1080', NO_PROXY: 'r.example' }, 'https://r.example/'), '');
  });

  it('sends the proxy URL credentials as Proxy-Authorization and never shows them', () => {
    const p = new URL('http://us%40er:p%3Ass@proxy.corp:3128');
    assert.equal(proxyAuthorization(p), 'Basic ' + Buffer.from('us@er:p:ss').toString('base64'));
    assert.equal(proxyAuthorization(new URL(P)), undefined);
    assert.equal(describeProxy(p), 'http://proxy.corp:3128');
  });

  it('reads IP literals as Go does (IPv4 as v4-mapped)', () => {
    assert.deepEqual([...(ipBytes('1.2.3.4') ?? [])], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    assert.deepEqual(ipBytes('::ffff:1.2.3.4'), ipBytes('1.2.3.4'));
    assert.deepEqual(ipBytes('[2001:db8::1]'), ipBytes('2001:0db8:0:0:0:0:0:1'));
    assert.equal(ipBytes('example.com'), undefined);
    assert.equal(useProxy(proxyFromEnv({}), '[::1]', '443'), false);
  });
});
