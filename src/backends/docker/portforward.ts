/**
 * PortForward: a TCP connection to 127.0.0.1:<port> inside the pod's network namespace, as the kubelet means it
 * (a listener bound only to the pod's loopback is reachable too), made by the relay every backend that runs pods
 * in a host netns shares (src/host/tcp-relay.ts: it also refuses a port outside 1-65535). Docker cannot join a
 * namespace by path, but the pause container's one is pinned under the sandbox ID; host-network pods share our
 * namespace and are connected to directly.
 */
import type { Duplex } from 'node:stream';
import type { CallContext } from '../backend';
import { FailedPreconditionError, NotFoundError } from '../../errors';
import { connectInNetns, connectLocal } from '../../host/tcp-relay';
import type { DockerShared } from './context';
import { readSandbox } from './records';

export async function portForward(s: DockerShared, ctx: CallContext, sandboxId: string, port: number): Promise<Duplex> {
  const pause = await s.lookup.inspect('sandbox', sandboxId, ctx.signal);
  if (!pause) throw new NotFoundError(`port forward: sandbox ${sandboxId} not found in docker`);
  if (!pause.State.Running) throw new FailedPreconditionError(`port forward: sandbox ${sandboxId} is not ready`);
  if (readSandbox(pause.Config.Labels)?.hostNetwork) return connectLocal(port);
  return connectInNetns(s.network.netnsPath(sandboxId), port);
}
