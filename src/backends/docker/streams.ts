/**
 * Exec and Attach as plain process streams for the streaming server: Docker's hijacked connection carries stdin
 * one way and stdout/stderr the other (multiplexed frames without a TTY, raw bytes with one). Closing our stdin
 * half-closes the connection, which Docker passes on as end-of-file to the process.
 */
import { PassThrough, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import type { CallContext, ProcessStreams, StreamOptions } from '../backend';
import { FailedPreconditionError, errorMessage } from '../../errors';
import type { DockerShared } from './context';
import type { TtySize } from './engine-client';
import { FrameDecoder } from './stream-frames';
import { killExec } from './exec';
import { handleErrors } from '../../util/streams';

interface Hooks {
  resize(size: TtySize): Promise<void>;
  exitCode(): Promise<number>;
  /** Ends the session's process (exec) or nothing more than detaching (attach). */
  kill(): Promise<void>;
}

function wrap(ctx: CallContext, socket: Socket, head: Buffer, opts: StreamOptions, hooks: Hooks): ProcessStreams {
  const stdout = opts.stdout ? new PassThrough() : undefined;
  const stderr = opts.stderr && !opts.tty ? new PassThrough() : undefined;
  const decoder = opts.tty ? undefined : new FrameDecoder();
  const take = (chunk: Buffer): void => {
    if (!decoder) {
      stdout?.write(chunk);
      return;
    }
    for (const f of decoder.push(chunk)) {
      if (f.stream === 'stdout') stdout?.write(f.data);
      else if (f.stream === 'stderr') stderr?.write(f.data);
    }
  };
  if (head.length) take(head);
  const ended = new Promise<void>((resolve) => {
    socket.on('data', take);
    socket.on('close', () => resolve());
    socket.on('error', (err) => {
      ctx.log.debug('stream connection error', { error: errorMessage(err) });
      resolve();
    });
  });
  void ended.then(() => {
    stdout?.end();
    stderr?.end();
  });
  const stdin = opts.stdin
    ? handleErrors(
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            socket.write(chunk, (err) => cb(err ?? null));
          },
          final(cb) {
            socket.end();
            cb();
          },
        }),
        'docker stdin',
        ctx.log,
      )
    : undefined;
  let closed = false;
  return {
    stdin,
    stdout,
    stderr,
    resize(size) {
      if (!opts.tty) return;
      hooks.resize(size).catch((err: unknown) => ctx.log.debug('resize failed', { error: errorMessage(err) }));
    },
    async wait() {
      await ended;
      return { exitCode: await hooks.exitCode() };
    },
    close() {
      if (closed) return;
      closed = true;
      void hooks.kill().finally(() => socket.destroy());
    },
  };
}

export async function exec(
  s: DockerShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  opts: StreamOptions,
): Promise<ProcessStreams> {
  const c = await s.lookup.mustInspect('container', id, ctx.signal);
  if (!c.State.Running) throw new FailedPreconditionError(`exec in container ${id}: container is not running`);
  const execId = await s.engine.createExec(
    c.Id,
    { cmd, tty: opts.tty, stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr && !opts.tty },
    ctx.signal,
  );
  ctx.log.info('exec session', { dockerId: c.Id, execId, tty: opts.tty });
  const { socket, head } = await s.engine.startExec(execId, opts.tty, ctx.signal);
  return wrap(ctx, socket, head, opts, {
    resize: (size) => s.engine.resizeExec(execId, size),
    exitCode: async () => {
      for (let i = 0; i < 250; i++) {
        const st = await s.engine.inspectExec(execId);
        if (!st.Running && st.ExitCode !== null) return st.ExitCode;
        await new Promise((r) => setTimeout(r, 20));
      }
      return -1;
    },
    // Docker cannot kill an exec: its process tree is killed by host PID (see exec.ts).
    kill: () => killExec(s, execId),
  });
}

export async function attach(
  s: DockerShared,
  ctx: CallContext,
  id: string,
  opts: StreamOptions,
): Promise<ProcessStreams> {
  const c = await s.lookup.mustInspect('container', id, ctx.signal);
  if (!c.State.Running) throw new FailedPreconditionError(`attach to container ${id}: container is not running`);
  if (opts.tty !== c.Config.Tty) {
    throw new FailedPreconditionError(
      `attach to container ${id}: tty ${opts.tty} requested, the container has tty ${c.Config.Tty}`,
    );
  }
  ctx.log.info('attach session', { dockerId: c.Id, tty: opts.tty });
  const { socket, head } = await s.engine.attach(
    c.Id,
    { stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr },
    ctx.signal,
  );
  return wrap(ctx, socket, head, opts, {
    resize: (size) => s.engine.resizeContainer(c.Id, size),
    // Detached while running: 0, like a clean detach; exited: the process's own code.
    exitCode: async () => {
      const now = await s.engine.inspectContainer(c.Id, {}).catch(() => undefined);
      return now && !now.State.Running ? now.State.ExitCode : 0;
    },
    kill: async () => undefined,
  });
}
