/**
 * Exec in a running container, always through `runc exec`, so the process gets the container's user,
 * supplementary groups, capabilities, no_new_privs and seccomp filter, exactly as its main process.
 * With a tty: `crimux-io console` (the host's console bridge, on the tools disk) runs `runc exec -d -t
 * --console-socket`, receives the terminal's master runc hands over (SCM_RIGHTS), relays it on stdin/stdout,
 * applies resizes from fd 3 and exits with the process's exit code. (Until #18 a tty exec entered the container
 * with nsenter and kept the agent's capabilities and no seccomp filter.) Without the bridge (a guest built without
 * gcc) a tty exec runs without a terminal, stderr merged into stdout, rather than with the agent's privileges.
 * The process runs in its own process group (runc exec forks): on timeout the whole group gets SIGKILL — killing
 * only the parent would leave its child running (notes §4). `runc exec` is only a proxy whose child is not in that
 * group, so the exec'd process itself is killed too, by the PID runc wrote to --pid-file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecReply } from '../protocol';
import type { ExecTarget } from './containers';
import { RUNC, RUNC_ROOT } from './oci';
import { CONSOLE_HELPER } from './util';
import { ExecSyncOutput, exitCodeOf } from '../../../host/exec-output';

let execSeq = 0;

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return pid > 1 ? pid : undefined;
  } catch {
    return undefined; // runc has not started the process (yet): the group kill ends runc itself
  }
}

function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export interface ExecCommand {
  readonly file: string;
  readonly argv: string[];
  readonly env: NodeJS.ProcessEnv;
  /** Where `runc exec` writes the exec'd process's PID; see killExec. */
  readonly pidFile?: string;
  /** Runs on a terminal of its own (crimux-io console): stdout is the terminal, fd 3 takes "ROWS COLS" lines. */
  readonly terminal?: boolean;
}

/** How long a kill waits for `runc exec` to name the process it started (it may still be setting it up). */
const PID_FILE_WAIT_MS = 10_000;

/**
 * SIGKILL an exec: the process runc started (by its pid file), then the spawned group (runc itself, the console bridge).
 * When runc has not written the pid file yet (an exec killed within its first moments: a 1 s ExecSync timeout on a
 * loaded TCG guest), the kill waits for it: killing runc first would leave the process it is starting running
 * untracked in the container, or a zombie there once runc is gone.
 */
export function killExec(cmd: ExecCommand, child: ChildProcess): void {
  const group = (): void => {
    if (child.pid) killQuietly(-child.pid);
  };
  const pidFile = cmd.pidFile;
  if (!pidFile) return group();
  const deadline = Date.now() + PID_FILE_WAIT_MS;
  const attempt = (): void => {
    const pid = readPid(pidFile);
    if (pid) {
      killQuietly(pid); // runc reaps it and exits: the caller's 'close' follows
      return group();
    }
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) return group();
    setTimeout(attempt, 20);
  };
  attempt();
}

/** Drops the exec's pid file once it ended. */
export function execDone(cmd: ExecCommand): void {
  if (cmd.pidFile) fs.rmSync(cmd.pidFile, { force: true });
}

/** The command line of a process in a running container (see above for tty). */
export function execCommand(target: ExecTarget, args: string[], env: string[] = [], tty = false): ExecCommand {
  const envArgs = env.flatMap((kv) => ['--env', kv]);
  // /run: the guest's tmpfs that runc's own state lives on (RUNC_ROOT), so it exists and is writable.
  const n = ++execSeq;
  const pidFile = path.join('/run', `crimux-exec-${n}.pid`);
  const runcExec = [RUNC, '--root', RUNC_ROOT, 'exec', '--pid-file', pidFile, ...envArgs];
  if (tty && fs.existsSync(CONSOLE_HELPER)) {
    const socket = path.join('/run', `crimux-console-${n}.sock`);
    const argv = [...runcExec, '-d', '-t', '--console-socket', socket, '--', target.cid, ...args];
    return { file: CONSOLE_HELPER, argv: ['console', socket, pidFile, ...argv], env: {}, pidFile, terminal: true };
  }
  return { file: runcExec[0] as string, argv: [...runcExec.slice(1), '--', target.cid, ...args], env: {}, pidFile };
}

export function execIn(
  target: ExecTarget,
  args: string[],
  env: string[] | undefined,
  timeoutMs: number,
): Promise<ExecReply> {
  return new Promise((resolve) => {
    const cmd = execCommand(target, args, env);
    const child = spawn(cmd.file, cmd.argv, {
      env: cmd.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const output = new ExecSyncOutput();
    child.stdout.on('data', (b: Buffer) => output.take('stdout', b));
    child.stderr.on('data', (b: Buffer) => output.take('stderr', b));
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            killExec(cmd, child);
          }, timeoutMs)
        : undefined;
    const done = (exitCode: number): void => {
      if (timer) clearTimeout(timer);
      execDone(cmd);
      resolve({
        exitCode,
        stdout: output.stdout.toString('base64'),
        stderr: output.stderr.toString('base64'),
        timedOut,
      });
    };
    child.on('close', (code, signal) => done(exitCodeOf(code, signal)));
    child.on('error', (e) => {
      output.take('stderr', Buffer.from(String(e.message)));
      done(127);
    });
  });
}
