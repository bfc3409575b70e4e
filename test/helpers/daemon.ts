/**
 * Starts a real crimux daemon process for a test: its own temp dir (state, run dir, socket, config file), a
 * config deep-merged over test defaults (registry hosts mapped to the local test registry), and a CRI client
 * over its socket. kill9() and restart() exist for crash tests. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CriClient, grpc } from './cri-client';

const ROOT = path.resolve(__dirname, '..', '..');

export interface DaemonHandle {
  readonly dir: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly runDir: string;
  readonly configPath: string;
  readonly config: Record<string, unknown>;
  /** host:port of /metrics, /healthz, /readyz. */
  metricsAddress: string;
  cri: CriClient;
  rt: CriClient['rt'];
  img: CriClient['img'];
  /** Everything the daemon wrote to stderr/stdout so far (all runs). */
  logs(): string;
  pid(): number;
  /** True while the current process has not exited. */
  running(): boolean;
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
  /** Stop (if running) and start again on the same dirs; `env` replaces the extra environment (e.g. failpoints). */
  restart(env?: NodeJS.ProcessEnv): Promise<void>;
  /** Resolves with the exit code/signal when the current process exits (e.g. at a failpoint). */
  exited(): Promise<number | null>;
  /** stop (if running) and remove the temp dir. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  /** Deep-merged over the test defaults. */
  config?: Record<string, unknown>;
  /** Keep the temp dir (e.g. to reuse state across handles). */
  dir?: string;
  env?: NodeJS.ProcessEnv;
  /** Wait for Version to answer (reconcile finished); true by default. */
  waitReady?: boolean;
  /**
   * Run the compiled daemon (dist/, `npm run build`) as deployed, instead of the sources through tsx: for
   * benchmarks of memory and speed, where tsx's loader and compile cache would be measured too.
   */
  built?: boolean;
}

export function testRegistryMap(port = Number(process.env.CRIMUX_TEST_REGISTRY_PORT ?? 5000)): Record<string, unknown> {
  const endpoint = { endpoints: [{ url: `http://127.0.0.1:${port}` }] };
  // gcr.io: the upstream CRI validation suite's images (gcr.io/k8s-staging-cri-tools/…), test/conformance.
  return {
    'registry.k8s.io': endpoint,
    'docker.io': endpoint,
    'quay.io': endpoint,
    'ghcr.io': endpoint,
    'gcr.io': endpoint,
  };
}

/**
 * The crimux-spawn helper(s) a running daemon started (src/host/spawner.ts): part of the daemon, and the parent
 * of the commands it runs. One read of the daemon's children list, then each child's name.
 */
export function spawnHelperPids(daemonPid: number): number[] {
  let kids: string[];
  try {
    kids = fs.readFileSync(`/proc/${daemonPid}/task/${daemonPid}/children`, 'utf8').split(' ').filter(Boolean);
  } catch {
    return [];
  }
  return kids.map(Number).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'crimux-spawn';
    } catch {
      return false; // gone meanwhile
    }
  });
}

export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export async function startDaemon(opts: StartOptions = {}): Promise<DaemonHandle> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-test-'));
  const socket = path.join(dir, 'crimux.sock');
  const stateDir = path.join(dir, 'state');
  const runDir = path.join(dir, 'run');
  const base: Record<string, unknown> = {
    socket: { path: socket },
    stateDir,
    runDir,
    logLevel: 'debug',
    metrics: { address: '127.0.0.1:0' },
    network: { netnsDir: path.join(runDir, 'netns') },
    images: { registries: testRegistryMap() },
    handlers: { runc: { backend: 'runc', options: {} } },
    backends: {},
  };
  const config = deepMerge(base, opts.config ?? {});
  const configPath = path.join(dir, 'crimux.json');
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));

  let output = '';
  let extraEnv: NodeJS.ProcessEnv = { ...opts.env };
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);

  const launch = async (): Promise<void> => {
    // Built: with the V8 flag the host unit sets (deploy/installer/crimux.service, NODE_OPTIONS).
    const entry = opts.built
      ? ['--max-semi-space-size=2', path.join(ROOT, 'dist', 'src', 'cli', 'main.js')]
      : ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts')];
    // CRIMUX_DAEMON_NODE_ARGS: extra flags for the daemon's node (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p" to
    // profile a bench; node refuses --cpu-prof in NODE_OPTIONS).
    const nodeArgs = process.env.CRIMUX_DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const args = [...nodeArgs, ...entry, 'serve', '--config', configPath];
    const proc = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = /msg="metrics listening" address=(\S+)/.exec(output.slice(-4096));
      if (m?.[1]) handle.metricsAddress = m[1];
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    if (opts.waitReady ?? true) await waitReady(handle, proc);
  };

  const handle: DaemonHandle = {
    dir,
    socket,
    stateDir,
    runDir,
    configPath,
    config,
    metricsAddress: '',
    cri: new CriClient(socket),
    rt: undefined as unknown as CriClient['rt'],
    img: undefined as unknown as CriClient['img'],
    logs: () => output,
    pid: () => child?.pid ?? -1,
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
      child.kill('SIGTERM');
      return withTimeout(exited, 30_000, 'daemon did not stop within 30 s of SIGTERM');
    },
    async kill9() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await withTimeout(exited, 10_000, 'daemon did not die on SIGKILL');
    },
    exited: () => exited,
    async restart(env?: NodeJS.ProcessEnv) {
      if (env) extraEnv = { ...env };
      await handle.stop();
      handle.cri.close();
      handle.cri = new CriClient(socket);
      bind();
      await launch();
    },
    async cleanup() {
      try {
        await handle.stop();
      } catch {
        await handle.kill9();
      }
      handle.cri.close();
      if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  const bind = (): void => {
    handle.rt = handle.cri.rt.bind(handle.cri) as CriClient['rt'];
    handle.img = handle.cri.img.bind(handle.cri) as CriClient['img'];
  };
  bind();
  await launch();
  return handle;
}

async function waitReady(handle: DaemonHandle, proc: ChildProcess, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `daemon exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${handle.logs().slice(-4000)}`,
      );
    }
    try {
      await handle.rt('Version', { version: 'v1' }, { deadlineMs: 2000 });
      return;
    } catch (err) {
      last = (err as grpc.ServiceError).details ?? String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`daemon not ready within ${timeoutMs} ms (last: ${last}):\n${handle.logs().slice(-4000)}`);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms))),
  ]);
}
