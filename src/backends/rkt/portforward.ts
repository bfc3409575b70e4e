/**
 * PortForward for built-in-stage1 pods (rktlet never implemented it): a TCP connection to 127.0.0.1:<port> made from
 * inside the pod's network namespace, through the shared relay in src/host/tcp-relay.ts (nsenter into the pod's
 * netns via its stage1 PID 1; the relay refuses a port outside 1-65535 and reports a refused connection as an
 * error rather than an empty one).
 */
import type { Duplex } from 'node:stream';
import { FailedPreconditionError, NotFoundError, UnimplementedError } from '../../errors';
import { connectInNetns } from '../../host/tcp-relay';
import type { CallContext } from '../backend';
import type { RktShared } from './context';
import { findSandbox } from './lookup';

export async function portForward(s: RktShared, ctx: CallContext, sandboxId: string, port: number): Promise<Duplex> {
  if (!s.stage1) throw new UnimplementedError('port forward: not supported with a real rkt');
  const rec = await findSandbox(s, sandboxId, ctx.signal);
  if (!rec?.uuid) throw new NotFoundError(`port forward to ${sandboxId}: pod sandbox not found`);
  const { pid1 } = await s.stage1.podHandle(rec.uuid);
  if (pid1 === undefined) throw new FailedPreconditionError(`port forward to ${sandboxId}: pod is not running`);
  return connectInNetns(`/proc/${pid1}/ns/net`, port);
}
