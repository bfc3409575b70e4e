/**
 * Runs the Go CRI interop client (test/interop/go, built by scripts/build-go-client.sh with Debian's grpc-go, the
 * kubelet's library) and parses its JSON report. Not a test file.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');

export interface GoReport {
  results: Record<string, Record<string, unknown> & { ids?: string[] }>;
  /** step → "Code: message" for every call that failed. */
  errors: Record<string, string>;
}

/** Builds the client (cached by source hash) and returns its path. */
export async function buildGoClient(): Promise<string> {
  const { stdout } = await run('bash', [path.join(ROOT, 'scripts', 'build-go-client.sh')], { timeout: 600_000 });
  return stdout.trim();
}

export interface GoRunOptions {
  socket: string;
  /** Added with grpc.WithAuthority (kubelet >= 1.31); without it the authority is the socket path. */
  authority?: string;
  versionOnly?: boolean;
  logDir?: string;
  pause?: string;
  busybox?: string;
}

export async function runGoClient(bin: string, o: GoRunOptions): Promise<GoReport> {
  const args = ['-socket', o.socket];
  if (o.authority) args.push('-authority', o.authority);
  if (o.versionOnly) args.push('-version-only');
  if (o.logDir) args.push('-logdir', o.logDir);
  if (o.pause) args.push('-pause', o.pause);
  if (o.busybox) args.push('-busybox', o.busybox);
  const { stdout } = await run(bin, args, { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as GoReport;
}
