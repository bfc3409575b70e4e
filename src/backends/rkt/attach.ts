/**
 * Attach for built-in-stage1 apps (rktlet never had one: rktlet#8). conmon's attach socket is SOCK_SEQPACKET,
 * which Node cannot open, so:
 *  - output: the app's CRI log is followed from its current end and decoded back into stdout/stderr bytes
 *    (P lines without, F lines with their newline) — what the app writes from now on, as attach shows;
 *  - input: the app's stdin is a FIFO (stage1 run script) written through a pipe socket; with stdin_once the FIFO's
 *    keeper process is ended when this session's input ends, so the app reads EOF, as the CRI asks.
 * A terminal (tty) is not supported: UNIMPLEMENTED, as in the note's table.
 */
import { constants as fsc, openSync, promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { FailedPreconditionError, NotFoundError, UnimplementedError } from '../../errors';
import { readPidFile } from '../../host/conmon';
import type { CallContext, ProcessStreams, StreamOptions } from '../backend';
import type { RktShared } from './context';
import { findContainer } from './lookup';

const POLL_MS = 100;

export async function attach(s: RktShared, ctx: CallContext, id: string, opts: StreamOptions): Promise<ProcessStreams> {
  if (!s.stage1) throw new UnimplementedError('attach: not supported with a real rkt (rktlet#8)');
  if (opts.tty) throw new UnimplementedError('attach with a terminal: not supported by the rkt stage1');
  const rec = await findContainer(s, id, ctx.signal);
  if (!rec) throw new NotFoundError(`attach to container ${id}: container not found`);
  const h = await s.stage1.appHandle(rec.uuid, rec.app);
  if (!h.running) throw new FailedPreconditionError(`attach to container ${id}: container is not running`);
  const stdout = opts.stdout ? new PassThrough() : undefined;
  const stderr = opts.stderr ? new PassThrough() : undefined;
  const logPath = h.stored.logPath;
  let pos = logPath ? ((await fs.stat(logPath).catch(() => undefined))?.size ?? 0) : 0;
  let rest = '';
  let closed = false;
  let resolveDone!: (v: { exitCode: number }) => void;
  const done = new Promise<{ exitCode: number }>((r) => (resolveDone = r));
  const exitFile = path.join(h.infoDir, 'exit');

  const pump = async (): Promise<void> => {
    if (logPath) {
      const fh = await fs.open(logPath, 'r').catch(() => undefined);
      if (fh) {
        try {
          const { size } = await fh.stat();
          if (size < pos) pos = 0; // rotated
          if (size > pos) {
            const buf = Buffer.alloc(size - pos);
            await fh.read(buf, 0, buf.length, pos);
            pos = size;
            rest = emit(rest + buf.toString('utf8'), stdout, stderr);
          }
        } finally {
          await fh.close();
        }
      }
    }
    const code = (await fs.readFile(exitFile, 'utf8').catch(() => undefined))?.trim();
    if (code !== undefined) finish(Number(code) || 0);
  };
  const finish = (exitCode: number): void => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    stdout?.end();
    stderr?.end();
    resolveDone({ exitCode });
  };
  const timer = setInterval(
    () => void pump().catch((err: unknown) => ctx.log.debug('attach poll', { error: err })),
    POLL_MS,
  );

  let stdin: net.Socket | undefined;
  if (opts.stdin && h.stored.spec.stdin) {
    // A raw fd (not a FileHandle, which would close it on GC): the socket owns and closes it.
    const fd = openSync(path.join(h.infoDir, 'stdin'), fsc.O_WRONLY | fsc.O_NONBLOCK);
    stdin = new net.Socket({ fd, readable: false, writable: true });
    stdin.on('error', () => undefined);
    stdin.on('finish', () => {
      if (!h.stored.spec.stdinOnce) return;
      // stdin_once: the first session's end is the app's EOF.
      void readPidFile(path.join(h.infoDir, 'stdin.keeper'))
        .then((pid) => {
          if (pid !== null) process.kill(pid, 'SIGKILL');
        })
        .catch(() => undefined);
    });
  }
  return {
    stdin,
    stdout,
    stderr,
    resize: () => undefined,
    wait: () => done,
    close: () => {
      stdin?.destroy();
      finish(0);
    },
  };
}

/** Decodes complete CRI log lines into the two streams; returns the unfinished tail. */
function emit(text: string, stdout?: PassThrough, stderr?: PassThrough): string {
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  for (const line of lines) {
    const m = /^\S+ (stdout|stderr) ([PF]) (.*)$/.exec(line);
    if (!m) continue;
    const out = m[1] === 'stdout' ? stdout : stderr;
    out?.write(m[2] === 'F' ? `${m[3]}\n` : (m[3] ?? ''));
  }
  return tail;
}
