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

test('socket.path defaults to <runDir>/crimux.sock; an explicit one is kept', () => {
  assert.equal(loadConfig({ env: {} }).socket.path, '/run/crimux/crimux.sock');
  assert.equal(loadConfig({ env: {}, overrides: { runDir: '/tmp/d2/run' } }).socket.path, '/tmp/d2/run/crimux.sock');
  const config = loadConfig({ env: {}, overrides: { runDir: '/tmp/d2/run', 'socket.path': '/srv/c.sock' } });
  assert.equal(config.socket.path, '/srv/c.sock');
});
