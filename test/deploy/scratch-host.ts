/**
 * A scratch "host" for the installer scripts: a root directory laid out like a node (the DaemonSet's /host), an
 * image tree standing in for the image's /opt/crimux, the ConfigMap mount, and fake systemctl/kubectl
 * (test/deploy/fakes) whose calls are recorded. The image's crimux CLI is a shim that runs this checkout's
 * src/cli/main.ts, so install.sh validates configs with the real `crimux config check`.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO } from './manifests';
const FAKES = path.join(__dirname, 'fakes');
const INSTALLER = path.join(REPO, 'deploy', 'installer');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface ScratchHost {
  readonly dir: string;
  /** The host root (ROOT). */
  readonly root: string;
  /** The image's crimux tree (CRIMUX_SRC). */
  readonly image: string;
  /** The ConfigMap mount (CONFIG_SRC). */
  readonly configMount: string;
  /** Fake /proc of the host (PROC). */
  readonly proc: string;
  /** Runs deploy/installer/<script> against this host. */
  run(script: 'install.sh' | 'uninstall.sh', args?: string[], env?: Record<string, string>): RunResult;
  /** Recorded calls of the fake systemctl / kubectl since the last reset. */
  calls(tool: 'systemctl' | 'kubectl'): string[];
  resetCalls(): void;
  /** Every path under the root with its type, mode and content hash (or link target). */
  snapshot(): Map<string, string>;
  cleanup(): void;
}

export interface ScratchOptions {
  /** crimux.json of the ConfigMap mount. */
  config: string;
  /** Executables to create on the host (host paths), standing in for runc, conmon, qemu... */
  hostTools?: string[];
}

export function createScratchHost(opts: ScratchOptions): ScratchHost {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-deploy-'));
  const root = path.join(dir, 'root');
  const image = path.join(dir, 'image', 'opt', 'crimux');
  const configMount = path.join(dir, 'configmap');
  const proc = path.join(dir, 'proc');
  const state = path.join(dir, 'fake-state');

  // A node as found before crimux: the usual top-level dirs, systemd's unit dir, some unrelated files.
  for (const d of [
    'etc/systemd/system/multi-user.target.wants',
    'opt/other',
    'run',
    'var/lib/kubelet',
    'var/log',
    'usr/bin',
  ]) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
  }
  fs.writeFileSync(path.join(root, 'etc/hostname'), 'node-1\n');
  fs.writeFileSync(path.join(root, 'opt/other/keep.txt'), 'not crimux\n');
  for (const tool of opts.hostTools ?? ['/usr/sbin/runc', '/usr/bin/conmon']) {
    fs.mkdirSync(path.join(root, path.dirname(tool)), { recursive: true });
    fs.writeFileSync(path.join(root, tool), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  }

  // The image's tree: what the Dockerfile puts in /opt/crimux (node is a stand-in; tests run NODE=this node).
  const tsxApi = require.resolve('tsx/cjs/api');
  const shim = [
    "// Test stand-in for the built CLI: runs the checkout's TypeScript CLI through tsx.",
    `require(${JSON.stringify(tsxApi)}).register();`,
    `const { main } = require(${JSON.stringify(path.join(REPO, 'src/cli/main.ts'))});`,
    'main(process.argv.slice(2)).then((code) => { process.exitCode = code; });',
    '',
  ].join('\n');
  fs.mkdirSync(path.join(image, 'dist/src/cli'), { recursive: true });
  fs.writeFileSync(path.join(image, 'dist/src/cli/main.js'), shim);
  fs.mkdirSync(path.join(image, 'bin'));
  fs.writeFileSync(path.join(image, 'bin/node'), '#!/bin/sh\necho stand-in\n', { mode: 0o755 });
  fs.cpSync(path.join(REPO, 'config'), path.join(image, 'config'), { recursive: true });

  fs.mkdirSync(configMount);
  fs.writeFileSync(path.join(configMount, 'crimux.json'), opts.config);
  fs.copyFileSync(path.join(REPO, 'config/cni/10-crimux.conflist'), path.join(configMount, '10-crimux.conflist'));
  fs.mkdirSync(proc);
  fs.mkdirSync(state);

  const baseEnv = (): NodeJS.ProcessEnv => ({
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    ROOT: root,
    CRIMUX_SRC: image,
    CONFIG_SRC: configMount,
    SYSTEMCTL: path.join(FAKES, 'systemctl'),
    KUBECTL: path.join(FAKES, 'kubectl'),
    NODE: process.execPath,
    NODE_NAME: 'node-1',
    PROC: proc,
    SOCKET_TIMEOUT: '20',
    FAKE_ROOT: root,
    FAKE_STATE: state,
  });

  const host: ScratchHost = {
    dir,
    root,
    image,
    configMount,
    proc,
    run(script, args = [], env = {}) {
      const r = spawnSync('bash', [path.join(INSTALLER, script), ...args], {
        env: { ...baseEnv(), ...env },
        encoding: 'utf8',
        timeout: 120_000,
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    calls(tool) {
      const f = path.join(state, `${tool}.calls`);
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
    },
    resetCalls() {
      for (const t of ['systemctl', 'kubectl']) fs.rmSync(path.join(state, `${t}.calls`), { force: true });
    },
    snapshot() {
      return snapshotTree(root);
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return host;
}

export function snapshotTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const st = fs.lstatSync(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out.set(rel, `link ${fs.readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      if (rel) out.set(rel, `dir ${mode}`);
      for (const e of fs.readdirSync(abs).sort()) walk(path.join(rel, e));
    } else if (st.isSocket()) out.set(rel, 'socket');
    else out.set(rel, `file ${mode} ${crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}`);
  };
  walk('');
  return out;
}

/** Paths added, removed or changed between two snapshots, each prefixed with +, - or ~. */
export function diffSnapshots(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [p, v] of after) {
    if (!before.has(p)) out.push(`+${p}`);
    else if (before.get(p) !== v) out.push(`~${p}`);
  }
  for (const p of before.keys()) if (!after.has(p)) out.push(`-${p}`);
  return out.sort();
}
