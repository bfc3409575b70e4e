/**
 * The daemon's last words (issue #27): an uncaught exception or an unhandled rejection is logged through the
 * project logger at error level with its stack, and the process exits non-zero (the unit then restarts it).
 * Each case runs in a child Node process that installs the handlers exactly as `crimux serve` does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '../..');

function crashWith(body: string): { status: number | null; stderr: string } {
  const script = `
    const { installCrashHandlers } = require('./src/cli/crash');
    const { createLogger } = require('./src/log/logger');
    installCrashHandlers(createLogger({ level: 'info' }));
    function deepInsideAStreamCallback() { ${body} }
    setTimeout(deepInsideAStreamCallback, 10);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr };
}

for (const [kind, body] of [
  [
    'uncaught exception',
    "require('node:stream').Duplex.from({ readable: new (require('node:stream').PassThrough)() }).destroy();",
  ],
  ['uncaught exception', "throw new TypeError('boom');"],
  ['unhandled rejection', "void Promise.reject(new RangeError('lost promise'));"],
] as const) {
  test(`${kind} (${body.slice(0, 40)}…): one error line with the stack, exit 1`, () => {
    const r = crashWith(body);
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.includes('level=error'));
    assert.equal(lines.length, 1, r.stderr);
    const line = lines[0] ?? '';
    assert.match(line, new RegExp(`msg="crimux crashed: ${kind}; exiting"`));
    assert.match(line, /stack=".*deepInsideAStreamCallback/, 'the stack names the function that threw');
    assert.match(line, /error="?(The operation was aborted|boom|lost promise)/);
  });
}

test('the handlers are installed by `crimux serve` before the config is read', () => {
  // A config file that does not exist fails the start-up normally (exit 2 or 1), not as a crash.
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', '/nonexistent/crimux.json'],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.stderr, /crimux crashed/);
});
