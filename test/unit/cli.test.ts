import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

function crimux(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    // The file's values must count: no CRIMUX_* variable from the caller's environment may override them.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CRIMUX_'))),
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('config check validates the shipped config and prints the handler table', () => {
  const r = crimux('config', 'check', 'config/crimux.json');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /config\/crimux.json: valid/);
  assert.match(r.out, /HANDLER\s+BACKEND\s+ENABLED/);
  assert.match(r.out, /runc \(default\)\s+runc/);
});

test('config check names the bad key', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-cli-'));
  try {
    const bad = (obj: unknown): string => {
      const f = path.join(dir, `c${Math.random()}.json`);
      fs.writeFileSync(f, JSON.stringify(obj));
      return f;
    };
    let r = crimux('config', 'check', bad({ socket: { pth: '/x' } }));
    assert.equal(r.code, 2);
    assert.match(r.err, /socket\.pth/);
    r = crimux('config', 'check', bad({ logLevel: 'loud' }));
    assert.equal(r.code, 2);
    assert.match(r.err, /logLevel/);
    r = crimux('config', 'check', bad({ handlers: { x: { backend: 'lxc' } } }));
    assert.equal(r.code, 2);
    assert.match(r.err, /handlers\.x\.backend/);
    r = crimux('config', 'check', bad({ defaultHandler: 'nope' }));
    assert.equal(r.code, 2);
    assert.match(r.err, /defaultHandler: unknown handler "nope"/);
    r = crimux(
      'config',
      'check',
      bad({ images: { registries: { 'docker.io': { endpoints: [{ url: 'ftp://x' }] } } } }),
    );
    assert.equal(r.code, 2);
    assert.match(r.err, /images\.registries\.docker\.io\.endpoints\[0\]\.url/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('route --explain prints the backend and the reason without running anything', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-cli-'));
  try {
    const cfg = path.join(dir, 'c.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({
        handlers: { runc: { backend: 'runc' }, vm: { backend: 'vm' } },
        backends: { runc: { enabled: true }, vm: { enabled: true } },
        // Annotation routing is denied by default (issue #19): the operator allows the untrusted annotation here.
        routing: { annotationPolicy: [{ namespaces: ['*'], handlers: ['vm'] }] },
      }),
    );
    let r = crimux('route', '--explain', 'config/examples/pod-untrusted.json', '--config', cfg);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /handler: vm\nbackend: vm\nreason: {2}annotation io.kubernetes.cri.untrusted-workload/);
    r = crimux('route', '--explain', 'config/examples/pod-hostnetwork.json', '--config', cfg);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /handler: runc/);
    assert.match(r.out, /reason: {2}host-namespaces \(was vm\)/);
    r = crimux(
      'route',
      '--explain',
      'config/examples/pod-untrusted.json',
      '--config',
      cfg,
      '--runtime-handler',
      'kata',
    );
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown handler "kata"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('unknown commands and missing arguments are usage errors', () => {
  assert.equal(crimux('frobnicate').code, 2);
  assert.equal(crimux('config', 'check').code, 2);
  assert.equal(crimux('route').code, 2);
  assert.equal(crimux('--help').code, 0);
});

test('version, help and bare invocation behave as operators expect', () => {
  const v = crimux('--version');
  assert.equal(v.code, 0);
  assert.match(v.out, /^crimux \d+\.\d+\.\d+/);
  assert.equal(crimux('version').out, v.out);
  const h = crimux('serve', '--help');
  assert.equal(h.code, 0, h.err);
  assert.match(h.out, /usage: crimux/);
  // No command: a usage error, explained on stderr, nothing on stdout.
  const bare = crimux();
  assert.equal(bare.code, 2);
  assert.equal(bare.out, '');
  assert.match(bare.err, /usage: crimux/);
});

test('config default prints a documented config that crimux itself accepts', () => {
  const r = crimux('config', 'default');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\/\/ Log level of the daemon/);
  assert.match(r.out, /"logFormat": "logfmt"/);
  assert.match(r.out, /\(env CRIMUX_LOG_LEVEL\)/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-cli-'));
  try {
    const f = path.join(dir, 'default.json');
    fs.writeFileSync(f, r.out);
    const check = crimux('config', 'check', f);
    assert.equal(check.code, 0, check.err);
    assert.match(check.out, /valid/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
