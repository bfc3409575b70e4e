/**
 * Exec in a running container: `busybox nsenter -t INIT -m -u -i -p -r -w -S UID -G GID CMD…` (target's root and
 * cwd). The process runs in its own process group, because nsenter -p forks: on timeout the whole group gets
 * SIGKILL — killing only nsenter would leave its child running (notes §4).
 */
import { spawn } from 'node:child_process';
import type { ExecReply } from '../protocol';
import { BUSYBOX, exitCodeOf } from './util';

const MAX_OUTPUT = 16 * 1024 * 1024;

/** The nsenter command line and environment of a process in a running container (as the container's user). */
export function execArgv(
  target: { pid: number; uid: number; gid: number; env: string[] },
  args: string[],
  env?: string[],
): { argv: string[]; env: NodeJS.ProcessEnv } {
  const nsArgs = ['nsenter', '-t', String(target.pid), '-m', '-u', '-i', '-p', '-r', '-w'];
  return {
    argv: [...nsArgs, '-S', String(target.uid), '-G', String(target.gid), ...args],
    env: Object.fromEntries([...target.env, ...(env ?? [])].map((kv) => splitKv(kv))),
  };
}

export function execIn(
  target: { pid: number; uid: number; gid: number; env: string[] },
  args: string[],
  env: string[] | undefined,
  timeoutMs: number,
): Promise<ExecReply> {
  return new Promise((resolve) => {
    const cmd = execArgv(target, args, env);
    const child = spawn(BUSYBOX, cmd.argv, {
      env: cmd.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const collect = (into: Buffer[]) => (b: Buffer) => {
      size += b.length;
      if (size <= MAX_OUTPUT) into.push(b);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            try {
              if (child.pid) process.kill(-child.pid, 'SIGKILL');
            } catch {
              // group already gone
            }
          }, timeoutMs)
        : undefined;
    const done = (exitCode: number): void => {
      if (timer) clearTimeout(timer);
      resolve({
        exitCode,
        stdout: Buffer.concat(out).toString('base64'),
        stderr: Buffer.concat(err).toString('base64'),
        timedOut,
      });
    };
    child.on('close', (code, signal) => done(exitCodeOf(code, signal)));
    child.on('error', (e) => {
      err.push(Buffer.from(String(e.message)));
      done(127);
    });
  });
}

function splitKv(kv: string): [string, string] {
  const i = kv.indexOf('=');
  return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
}
