/** Per-daemon paths left unset follow runDir; an explicit value is honoured. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load';

test('network.netnsDir defaults to <runDir>/netns', () => {
  assert.equal(loadConfig({ env: {} }).network.netnsDir, '/run/crimux/netns');
  assert.equal(loadConfig({ env: {}, overrides: { runDir: '/tmp/d2/run' } }).network.netnsDir, '/tmp/d2/run/netns');
});

test('an explicit network.netnsDir is kept', () => {
  const config = loadConfig({ env: {}, overrides: { runDir: '/tmp/d2/run', 'network.netnsDir': '/srv/netns' } });
  assert.equal(config.network.netnsDir, '/srv/netns');
});
