/**
 * The metrics listener (src/metrics/http.ts) survives errors after it is listening: an accept failure such as
 * EMFILE is an 'error' event on the server, and without a listener the second one was thrown and ended the daemon.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { createLogger } from '../../src/log/logger';
import { MetricsServer } from '../../src/metrics/http';
import { Metrics } from '../../src/metrics/metrics';

function get(address: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${address}${path}`, { timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

test('accept errors after listen are logged and the server keeps serving', async () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', write: (line) => void lines.push(line) });
  const probes = { ready: () => true, backendsReady: async () => ({}) };
  const m = new MetricsServer(new Metrics({ processMetrics: false }), probes, log);
  const address = await m.listen('127.0.0.1:0');
  try {
    const server = m['server'] as http.Server;
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    server.emit('error', emfile);
    server.emit('error', emfile);
    assert.equal(lines.filter((l) => l.includes('metrics server error') && l.includes('EMFILE')).length, 2);
    assert.equal(await get(address, '/healthz'), 200);
  } finally {
    await m.close();
  }
});

test('a listen failure still rejects listen()', async () => {
  const taken = new MetricsServer(
    new Metrics({ processMetrics: false }),
    { ready: () => true, backendsReady: async () => ({}) },
    createLogger({ write: () => undefined }),
  );
  const address = await taken.listen('127.0.0.1:0');
  const second = new MetricsServer(
    new Metrics({ processMetrics: false }),
    { ready: () => true, backendsReady: async () => ({}) },
    createLogger({ write: () => undefined }),
  );
  try {
    await assert.rejects(second.listen(address), /EADDRINUSE/);
  } finally {
    await taken.close();
    await second.close();
  }
});
