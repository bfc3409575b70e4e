/**
 * Exec with a TTY for runc containers. The runtime hands the terminal out only through --console-socket (the pty
 * master as an SCM_RIGHTS fd) and only when detached, so crimux-io runs `runtime exec -d`, takes the master,
 * relays it over plain pipes, and — as the subreaper the detached process is reparented to — reports its exit
 * code. Output arrives on stdout only (a terminal has one output stream).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { CallContext, ProcessStreams } from '../backend';
import { InvalidArgumentError } from '../../errors';
import { consoleExec, requireHelper } from '../../host/crimux-io';
import type { OciProcess } from '../../host/oci-spec';
import type { OciRuntime } from '../../host/oci-runtime';
import { killExec } from './exec-kill';

/** sun_path holds 108 bytes; runc dials the socket by its full path. */
const MAX_SOCKET_PATH = 107;

export async function execTty(
  helper: string,
  rt: OciRuntime,
  ctx: CallContext,
  id: string,
  execDir: string,
  proc: OciProcess,
  stdin: boolean,
): Promise<ProcessStreams> {
  await requireHelper(helper);
  const tag = randomBytes(6).toString('hex');
  const processFile = path.join(execDir, `${tag}.json`);
  const pidFile = path.join(execDir, `${tag}.pid`);
  const socket = path.join(execDir, `${tag}.sock`);
  if (socket.length > MAX_SOCKET_PATH)
    throw new InvalidArgumentError(
      `exec with a TTY: console socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes (shorten the run dir)`,
    );
  // Shells and curses programs need TERM on a terminal; keep the image's when it sets one (as CRI-O does).
  const env = proc.env ?? [];
  const withTerm = env.some((e) => e.startsWith('TERM=')) ? env : [...env, 'TERM=xterm'];
  await fs.writeFile(processFile, JSON.stringify({ ...proc, env: withTerm, terminal: true }));
  ctx.log.info('exec stream with a tty', { argv0: proc.args?.[0], stdin });
  const h = consoleExec(helper, socket, pidFile, [
    rt.opts.path,
    ...rt.execArgv(id, { processFile, pidFile, consoleSocket: socket }),
  ]);
  // Without stdin the client sends nothing: the terminal still needs an open input, so the helper's stdin stays
  // open (unexposed) until the session ends.
  void h.exited
    .catch(() => 255)
    .then(() => Promise.allSettled([processFile, pidFile, socket].map((f) => fs.rm(f, { force: true }))));
  let closed = false;
  return {
    stdin: stdin ? h.stdin : undefined,
    stdout: h.stdout,
    resize: (size) => h.resize(size.width, size.height),
    wait: async () => {
      const code = await h.exited;
      // 125: the helper itself failed (see its die()); surface its message instead of a bare exit code.
      if (code === 125 && h.diagnostics()) ctx.log.warn('exec tty helper failed', { error: h.diagnostics() });
      return { exitCode: code };
    },
    close: () => {
      if (closed) return;
      closed = true;
      // Kill the exec'd process (the helper then sees the terminal hang up and exits), the helper if it lingers.
      killExec(pidFile, h.child);
    },
  };
}
