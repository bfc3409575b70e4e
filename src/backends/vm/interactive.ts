/**
 * Exec and Attach streams for the streaming server. Exec spawns a process in the container through the agent
 * (`spawn`) and streams its stdin/stdout/stderr as stream messages; Attach follows the container's main process
 * output (the same events that feed the CRI log) and forwards stdin when the container was created with stdin.
 *
 * With tty, exec runs `runc exec -t` in the guest; its terminal (from the container's own devpts) reaches the agent
 * through crimux-io's console bridge, and resizes reach it. A guest built without gcc has no bridge: a tty exec then
 * runs without a terminal, stderr merged into stdout, resize ignored. Attach with tty follows the main process's
 * pipes (containers are not started on a pty). TODO(#6).
 */
import { PassThrough, Writable } from 'node:stream';
import { FailedPreconditionError } from '../../errors';
import type { CallContext, ProcessStreams, StreamOptions } from '../backend';
import { findContainer } from './containers';
import type { VmShared } from './context';
import { handleErrors } from '../../util/streams';

function stdinWriter(send: (b: Buffer) => void, end: () => void): Writable {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      try {
        send(chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    final(cb) {
      try {
        end();
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
  return handleErrors(w, 'vm stdin');
}

export async function exec(
  s: VmShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  opts: StreamOptions,
): Promise<ProcessStreams> {
  const { pod, c } = findContainer(s, id);
  if (c.state !== 'running' || !s.rt.checkAlive(pod))
    throw new FailedPreconditionError(`exec in container ${id}: not running`);
  const vm = s.rt.vmFor(pod);
  const r = await vm.request({ op: 'spawn', cid: id, args: cmd, stdin: opts.stdin, tty: opts.tty }, 30_000);
  const sid = r.sid as number;
  const client = await vm.client();
  ctx.log.debug('vm: exec stream', { sid, cmd: cmd[0] });
  const stdout = new PassThrough();
  const stderr = opts.tty ? undefined : new PassThrough();
  let closed = false;
  const wait = new Promise<{ exitCode: number }>((resolve) => {
    s.rt.streams.register(pod.id, sid, {
      onData: (b, stream) => (stream === 'stderr' && stderr ? stderr : stdout).write(b),
      onClosed: (exitCode) => {
        closed = true;
        stdout.end();
        stderr?.end();
        resolve({ exitCode: exitCode ?? 255 });
      },
    });
  });
  const stdin = opts.stdin
    ? stdinWriter(
        (b) => client.send({ op: 'data', sid, data: b.toString('base64') }),
        () => client.send({ op: 'close', sid }),
      )
    : undefined;
  return {
    stdin,
    stdout: opts.stdout || opts.tty ? stdout : undefined,
    stderr: opts.stderr ? stderr : undefined,
    resize: ({ width, height }) => {
      if (!closed) client.send({ op: 'resize', sid, rows: height, cols: width });
    },
    wait: () => wait,
    close: () => {
      if (!closed) client.send({ op: 'killStream', sid });
    },
  };
}

export async function attach(s: VmShared, ctx: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams> {
  const { pod, c } = findContainer(s, id);
  if (c.state !== 'running' || !s.rt.checkAlive(pod))
    throw new FailedPreconditionError(`attach to container ${id}: not running`);
  const client = await s.rt.vmFor(pod).client();
  ctx.log.debug('vm: attach');
  const stdout = new PassThrough();
  const stderr = opts.tty ? undefined : new PassThrough();
  let done!: (r: { exitCode: number }) => void;
  const wait = new Promise<{ exitCode: number }>((resolve) => (done = resolve));
  const stop = s.rt.attach(id, (e) => {
    if (e.ev === 'output') (e.stream === 'stderr' && stderr ? stderr : stdout).write(Buffer.from(e.data, 'base64'));
    else if (e.ev === 'exit') finish(e.exitCode);
  });
  const finish = (exitCode: number): void => {
    stop();
    stdout.end();
    stderr?.end();
    done({ exitCode });
  };
  const stdin =
    opts.stdin && c.config.stdin
      ? stdinWriter(
          (b) => client.send({ op: 'stdin', cid: id, data: b.toString('base64') }),
          () => {
            if (c.config.stdin_once) client.send({ op: 'stdinClose', cid: id });
          },
        )
      : undefined;
  return {
    stdin,
    stdout: opts.stdout || opts.tty ? stdout : undefined,
    stderr: opts.stderr ? stderr : undefined,
    resize: () => undefined,
    wait: () => wait,
    // Detach: the container keeps running.
    close: () => finish(c.exitCode ?? 0),
  };
}
