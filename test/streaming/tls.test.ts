/**
 * The streaming server with TLS (streaming.tlsCertFile/tlsKeyFile): URLs are https, and both protocols work
 * over it. The certificate is made for the test with openssl (skipped when openssl is missing).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nullLogger } from '../../src/log/logger';
import { Metrics } from '../../src/metrics/metrics';
import { startStreamingServer, type StreamingServer } from '../../src/streaming';
import { connectRc } from './clients/remotecommand-client';
import { ProcessBackend } from './clients/process-backend';

const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

describe('streaming over TLS', { skip: !HAVE_OPENSSL && 'openssl is not installed', timeout: 60_000 }, () => {
  let dir = '';
  let server: StreamingServer | undefined;
  const backend = new ProcessBackend();

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-tls-'));
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    server = await startStreamingServer(
      {
        address: '127.0.0.1:0',
        tokenTtlSeconds: 60,
        tlsCertFile: path.join(dir, 'cert.pem'),
        tlsKeyFile: path.join(dir, 'key.pem'),
      },
      { log: nullLogger(), metrics: new Metrics({ processMetrics: false }) },
    );
  });
  after(async () => {
    await server?.close();
    backend.killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const url = (): string =>
    server?.exec({
      backend,
      containerId: 'c',
      cmd: ['echo', 'secret'],
      opts: { stdin: false, stdout: true, stderr: false, tty: false },
    }) ?? '';

  test('URLs are https', () => {
    assert.match(url(), /^https:\/\/127\.0\.0\.1:\d+\/exec\//);
  });

  test('SPDY and WebSocket sessions work over TLS', async () => {
    assert.equal(
      (await (await connectRc(url(), { transport: 'spdy', protocol: 'v4.channel.k8s.io' })).done).stdout,
      'secret\n',
    );
    assert.equal(
      (await (await connectRc(url(), { transport: 'ws', protocol: 'v5.channel.k8s.io' })).done).stdout,
      'secret\n',
    );
  });

  test('only one of the TLS files is a configuration error', async () => {
    await assert.rejects(
      startStreamingServer(
        { address: '127.0.0.1:0', tokenTtlSeconds: 60, tlsCertFile: path.join(dir, 'cert.pem'), tlsKeyFile: '' },
        {
          log: nullLogger(),
          metrics: new Metrics({ processMetrics: false }),
        },
      ),
      /must be set together/,
    );
  });
});
