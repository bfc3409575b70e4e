import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/logger';
import { InternalError, errorMessage } from '../../src/errors';

function capture(format?: 'logfmt' | 'json') {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format, write: (l) => lines.push(l) });
  return { log, lines };
}

test('levels use logrus names (warning), as tools written for containerd expect', () => {
  const { log, lines } = capture();
  log.warn('disk almost full', { dir: '/var/lib/crimux' });
  assert.match(lines[0] ?? '', /level=warning msg="disk almost full" dir=\/var\/lib\/crimux$/);
});

test('json mode writes one object per line with the same fields, secrets redacted', () => {
  const { log, lines } = capture('json');
  log.child({ backend: 'runc' }).error('pull failed', { registryToken: 'abc', size: 10n });
  const obj = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  assert.equal(obj.level, 'error');
  assert.equal(obj.msg, 'pull failed');
  assert.equal(obj.backend, 'runc');
  assert.equal(obj.registryToken, '<redacted>');
  assert.equal(obj.size, '10');
});

test('errors keep their cause chain, in log fields and in errorMessage', () => {
  const root = new Error('connect ECONNREFUSED /run/docker.sock');
  const err = new InternalError('list containers', { cause: new Error('engine call failed', { cause: root }) });
  assert.equal(errorMessage(err), 'list containers: engine call failed: connect ECONNREFUSED /run/docker.sock');
  const { log, lines } = capture();
  log.error('relist failed', { error: err });
  assert.match(lines[0] ?? '', /error="list containers: engine call failed: connect ECONNREFUSED/);
});

test('children follow the root level when it changes (SIGHUP)', () => {
  const { log, lines } = capture();
  const child = log.child({ component: 'images' });
  child.debug('hidden');
  log.setLevel('debug');
  child.debug('shown');
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? '', /msg="shown" component=images/);
});
