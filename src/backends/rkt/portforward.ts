/**
 * PortForward for built-in-stage1 pods (rktlet returned "TODO"): a TCP connection to 127.0.0.1:<port> made from
 * inside the pod's network namespace. Node cannot enter a namespace, so a small relay does: nsenter into the
 * pod's netns, then socat if the host has it, else BusyBox nc (Debian's busybox-static is on this kind of host).
 * The relay's stdin/stdout are the Duplex the streaming server copies to and from.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError, UnimplementedError } from '../../errors';
import type { CallContext } from '../backend';
import type { RktContext } from './context';
import { findSandbox } from './lookup';
import { exists } from './stage1/files';

async function relayArgv(port: number): Promise<string[]> {
  for (const dir of ['/usr/bin', '/bin', '/usr/local/bin']) {
    if (await exists(`${dir}/socat`)) return [`${dir}/socat`, '-', `TCP:127.0.0.1:${port}`];
  }
  for (const bb of ['/bin/busybox', '/usr/bin/busybox']) if (await exists(bb)) return [bb, 'nc', '127.0.0.1', String(port)];
  throw new UnavailableError('port forward: neither socat nor busybox is installed on the host');
}

export async function portForward(ctx: RktContext, cc: CallContext, sandboxId: string, port: number): Promise<Duplex> {
  if (!ctx.stage1) throw new UnimplementedError('port forward: not supported with a real rkt');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`port forward: bad port ${port}`);
  const rec = await findSandbox(ctx, sandboxId, cc.signal);
  if (!rec?.uuid) throw new NotFoundError(`port forward to ${sandboxId}: pod sandbox not found`);
  const { pid1 } = await ctx.stage1.podHandle(rec.uuid);
  if (pid1 === undefined) throw new FailedPreconditionError(`port forward to ${sandboxId}: pod is not running`);
  const child = spawn('nsenter', ['-t', String(pid1), '-n', '--', ...(await relayArgv(port))], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.on('data', (b: Buffer) => cc.log.debug('port forward relay', { port, stderr: b.toString().trim() }));
  // A plain Duplex over the relay's pipes: its end is the connection's end either way, without Duplex.from's
  // "premature close" errors when the caller simply destroys it.
  const duplex = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (child.stdin.writable) child.stdin.write(chunk, () => cb());
      else cb();
    },
    final(cb) {
      child.stdin.end();
      cb();
    },
    destroy(err, cb) {
      child.kill('SIGKILL');
      cb(err);
    },
  });
  child.stdin.on('error', () => undefined);
  child.stdout.on('data', (b: Buffer) => {
    if (!duplex.push(b)) child.stdout.pause();
  });
  child.stdout.on('end', () => duplex.push(null));
  child.on('error', (err) => duplex.destroy(err));
  return duplex;
}
