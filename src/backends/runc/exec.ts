/**
 * ExecSync for runc containers: `runtime exec --process <spec>` with the container's own process settings (user,
 * env, capabilities, no_new_privs) and only argv replaced, output captured with a cap.
 *
 * Timeout: the runtime's exec is only a proxy, and SIGKILL cannot be forwarded through it, so on timeout the
 * exec'd process itself is killed by the PID the runtime wrote to --pid-file; the call then fails with
 * DeadlineExceededError, as the CRI asks.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { CallContext, ExecSyncResult } from '../backend';
import { DeadlineExceededError, FailedPreconditionError, UnavailableError } from '../../errors';
import { readPidFile } from '../../host/conmon';
import { ExecSyncOutput } from '../../host/exec-output';
import type { OciSpec } from '../../host/oci-spec';
import type { RuncShared } from './context';
import { mustRecord } from './containers';

export async function execSync(
  s: RuncShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  timeoutSeconds: number,
): Promise<ExecSyncResult> {
  const rec = mustRecord(s, id);
  const sandbox = s.records.sandbox(rec.sandboxId);
  const dir = s.layout.containerDir(id);
  const live = sandbox
    ? await s.engine.state(sandbox.handler, id, dir, rec.startedAt !== undefined)
    : { kind: 'unknown' };
  if (!sandbox || live.kind !== 'running') {
    throw new FailedPreconditionError(`exec sync in container ${id}: container is not running (${live.kind})`);
  }
  const spec = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8')) as OciSpec;
  const proc = { ...spec.process, args: cmd, terminal: false };

  await fs.mkdir(s.layout.execDir, { recursive: true, mode: 0o700 });
  const tag = `${id}-${randomBytes(6).toString('hex')}`;
  const processFile = path.join(s.layout.execDir, `${tag}.json`);
  const pidFile = path.join(s.layout.execDir, `${tag}.pid`);
  await fs.writeFile(processFile, JSON.stringify(proc));
  const rt = s.engine.runtime(sandbox.handler);
  const cap = s.runc.execSyncMaxOutputBytes;
  ctx.log.debug('exec sync', { argv0: cmd[0], timeoutSeconds });
  try {
    return await new Promise<ExecSyncResult>((resolve, reject) => {
      const child = spawn(rt.opts.path, rt.execArgv(id, { processFile, pidFile }), {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = new ExecSyncOutput(cap);
      child.stdout.on('data', (b: Buffer) => output.take('stdout', b));
      child.stderr.on('data', (b: Buffer) => output.take('stderr', b));
      let why: string | undefined;
      const killExec = (reason: string): void => {
        why ??= reason;
        void readPidFile(pidFile).then((pid) => {
          if (pid) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              /* already exited */
            }
          }
          // The proxy exits once its child died; kill it too if it lingers (e.g. still setting up).
          setTimeout(() => child.kill('SIGKILL'), 2000).unref();
        });
      };
      const timer =
        timeoutSeconds > 0
          ? setTimeout(() => killExec(`timed out after ${timeoutSeconds} s`), timeoutSeconds * 1000)
          : undefined;
      const onAbort = (): void => killExec('cancelled by the caller');
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        reject(new UnavailableError(`exec sync in container ${id}: start ${rt.opts.path}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        if (why) {
          reject(new DeadlineExceededError(`exec sync in container ${id}: ${why}`, { context: { container: id } }));
          return;
        }
        resolve({ stdout: output.stdout, stderr: output.stderr, exitCode: code ?? 255 });
      });
    });
  } finally {
    await Promise.allSettled([fs.rm(processFile, { force: true }), fs.rm(pidFile, { force: true })]);
  }
}
