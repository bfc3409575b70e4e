/**
 * Makes sure the local test registry runs and holds the test images (test/fixtures/images.ts). Test files call
 * `await ensureTestRegistry()` in before(); the scripts run once per process, and the scripts themselves lock and
 * cache, so parallel test processes and later runs are cheap.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
// A cold build is a few seconds; the bound leaves room for a slow apt-get download and a busy machine.
const TIMEOUT_MS = 180_000;

let pending: Promise<{ port: number }> | undefined;

export function testRegistryPort(): number {
  const raw = process.env.CRIMUX_TEST_REGISTRY_PORT ?? '5000';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`CRIMUX_TEST_REGISTRY_PORT must be a port number, got "${raw}"`);
  }
  return port;
}

function runScript(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [path.join(REPO_ROOT, 'scripts', script), ...args],
      { cwd: REPO_ROOT, timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`${script} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
        else resolve();
      },
    );
  });
}

/** Start the registry (no-op when running) and build/push the test images (no-op when cached). */
export function ensureTestRegistry(): Promise<{ port: number }> {
  pending ??= (async () => {
    const port = testRegistryPort();
    await runScript('test-registry.sh', ['start']);
    await runScript('test-images.sh', []);
    return { port };
  })();
  // A failed attempt is not cached, so a later before() can retry.
  pending.catch(() => {
    pending = undefined;
  });
  return pending;
}
