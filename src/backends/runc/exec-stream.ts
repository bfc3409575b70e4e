/**
 * Exec with streams (CRI Exec, served by the streaming server) and PortForward for runc pods.
 *
 * Exec runs `runtime exec` with the container's process settings: with plain pipes here, with a terminal through
 * crimux-io in exec-tty.ts (the runtime hands a terminal out only as an fd over its console socket).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import type { CallContext, ProcessStreams, StreamOptions } from '../backend';
import { FailedPreconditionError, NotFoundError } from '../../errors';
import type { OciSpec } from '../../host/oci-spec';
import { connectInNetns, connectLocal } from '../../host/tcp-relay';
import type { RuncShared } from './context';
import { mustRecord } from './containers';
import { killExec } from './exec-kill';
import { execTty } from './exec-tty';
import { handleChildErrors } from '../../util/streams';

export async function execStream(
  s: RuncShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  opts: StreamOptions,
): Promise<ProcessStreams> {
  const rec = mustRecord(s, id);
  const sandbox = s.records.sandbox(rec.sandboxId);
  const dir = s.layout.containerDir(id);
  const live = sandbox && rec.startedAt ? await s.engine.state(sandbox.handler, id, dir) : undefined;
  if (!sandbox || live?.kind !== 'running')
    throw new FailedPreconditionError(`exec in container ${id}: container is not running`);
  const spec = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8')) as OciSpec;
  await fs.mkdir(s.layout.execDir, { recursive: true, mode: 0o700 });
  const rt = s.engine.runtime(sandbox.handler);
  if (opts.tty)
    return execTty(s.runc.ioHelperPath, rt, ctx, id, s.layout.execDir, { ...spec.process, args: cmd }, opts.stdin);
  const tag = `${id}-${randomBytes(6).toString('hex')}`;
  const processFile = path.join(s.layout.execDir, `${tag}.json`);
  const pidFile = path.join(s.layout.execDir, `${tag}.pid`);
  await fs.writeFile(processFile, JSON.stringify({ ...spec.process, args: cmd, terminal: false }));
  ctx.log.info('exec stream', { argv0: cmd[0], stdin: opts.stdin });
  const child = handleChildErrors(
    spawn(rt.opts.path, rt.execArgv(id, { processFile, pidFile }), {
      stdio: [opts.stdin ? 'pipe' : 'ignore', opts.stdout ? 'pipe' : 'ignore', opts.stderr ? 'pipe' : 'ignore'],
    }),
    'runc exec',
    ctx.log,
  );
  const exited = new Promise<{ exitCode: number }>((resolve) => {
    child.on('error', () => resolve({ exitCode: 255 }));
    child.on('close', (code) => resolve({ exitCode: code ?? 255 }));
  });
  void exited.then(() => Promise.allSettled([fs.rm(processFile, { force: true }), fs.rm(pidFile, { force: true })]));
  let closed = false;
  return {
    stdin: child.stdin ?? undefined,
    stdout: child.stdout ?? undefined,
    stderr: child.stderr ?? undefined,
    resize: () => undefined, // no terminal, nothing to resize
    wait: () => exited,
    close: () => {
      if (closed) return;
      closed = true;
      // Kill the exec'd process itself (the runtime's exec is only a proxy), then the proxy if it lingers.
      killExec(pidFile, child);
    },
  };
}

export async function portForward(s: RuncShared, ctx: CallContext, sandboxId: string, port: number): Promise<Duplex> {
  const rec = s.records.sandbox(sandboxId);
  if (!rec) throw new NotFoundError(`port forward: sandbox ${sandboxId} not found`);
  const live = await s.engine.state(rec.handler, sandboxId, s.layout.pauseDir(sandboxId));
  if (rec.phase !== 'ready' || live.kind !== 'running')
    throw new FailedPreconditionError(`port forward: sandbox ${sandboxId} is not ready`);
  ctx.log.debug('port forward', { port });
  if (rec.hostNetwork || !rec.netnsPath) return connectLocal(port);
  return connectInNetns(rec.netnsPath, port);
}
