/**
 * A real dockerd for docker backend tests: `ensureDockerd()` starts Debian's dockerd (`--iptables=false
 * --bridge=none`, the host notes' working flags) detached, logging to a file, unless one already answers on the
 * socket; `stopDockerd()` / `startDockerd()` take it down and bring it back for the outage test.
 *
 * The daemon is left running after tests on purpose: several test files (and engineers) share it, and starting
 * it costs seconds. Only a dockerd this helper started is ever stopped, by the PID it recorded.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';

export const DOCKER_SOCKET = process.env.CRIMUX_TEST_DOCKER_SOCKET ?? '/var/run/docker.sock';
const STATE_DIR = process.env.CRIMUX_TEST_DIR ?? '/var/lib/crimux-test';
const LOG_FILE = `${STATE_DIR}/dockerd.log`;
const PID_FILE = `${STATE_DIR}/dockerd.pid`;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;

/** Whether dockerd answers /_ping on the socket within a short bound. */
export function pingDockerd(socket = DOCKER_SOCKET, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not done after ${timeoutMs} ms (see ${LOG_FILE})`);
}

function recordedPid(): number | undefined {
  try {
    const pid = Number(fs.readFileSync(PID_FILE, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.startsWith('dockerd') || cmd.includes('/dockerd') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts dockerd detached (its own session, so it outlives the test process) and waits until it answers. */
export async function startDockerd(): Promise<void> {
  if (await pingDockerd()) return;
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const out = fs.openSync(LOG_FILE, 'a');
  const child = spawn('dockerd', ['--iptables=false', '--bridge=none', '-H', `unix://${DOCKER_SOCKET}`], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error('start dockerd: spawn failed');
  fs.writeFileSync(PID_FILE, String(child.pid));
  child.unref();
  await waitFor(() => pingDockerd(), START_TIMEOUT_MS, 'start dockerd');
}

/** Makes sure a dockerd answers (started by us if needed). */
export async function ensureDockerd(): Promise<void> {
  await startDockerd();
}

/**
 * Stops the dockerd this helper started (SIGTERM, then wait until its process and socket are gone). A dockerd
 * started by someone else is never touched: the outage test then cannot run, and says so.
 */
export async function stopDockerd(): Promise<void> {
  const pid = recordedPid();
  if (pid === undefined) throw new Error('stop dockerd: this dockerd was not started by test/helpers/dockerd.ts');
  process.kill(pid, 'SIGTERM');
  await waitFor(async () => !fs.existsSync(`/proc/${pid}`), STOP_TIMEOUT_MS, 'stop dockerd');
  await waitFor(async () => !(await pingDockerd()), 5000, 'dockerd socket gone');
}

/** Whether stopDockerd() may be used (the running dockerd is ours). */
export function dockerdIsOurs(): boolean {
  return recordedPid() !== undefined;
}
