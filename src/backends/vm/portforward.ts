/**
 * PortForward into a VM: the agent opens a TCP connection to 127.0.0.1:port in the guest (the pod's network stack
 * lives there, not in the host netns) and the bytes travel over the agent channel as base64 data messages.
 */
import { Duplex } from 'node:stream';
import { FailedPreconditionError, NotFoundError } from '../../errors';
import type { CallContext } from '../backend';
import type { VmShared } from './context';
import { handleErrors } from '../../util/streams';

export async function portForward(s: VmShared, _ctx: CallContext, podId: string, port: number): Promise<Duplex> {
  const pod = s.rt.pods.get(podId);
  if (!pod) throw new NotFoundError(`port forward: sandbox ${podId} not found`);
  if (!s.rt.checkAlive(pod)) throw new FailedPreconditionError(`port forward: sandbox ${podId} is not running`);
  const vm = s.rt.vmFor(pod);
  const r = await vm.request({ op: 'connect', port }, 15_000);
  const sid = r.sid as number;
  const client = await vm.client();
  let open = true;
  const d = new Duplex({
    read() {
      // data is pushed as it arrives from the guest
    },
    write(chunk: Buffer, _enc, cb) {
      try {
        client.send({ op: 'data', sid, data: chunk.toString('base64') });
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    final(cb) {
      client.send({ op: 'close', sid });
      cb();
    },
    destroy(err, cb) {
      if (open) client.send({ op: 'close', sid });
      open = false;
      s.rt.streams.unregister(podId, sid);
      cb(err);
    },
  });
  handleErrors(d, 'vm port forward stream');
  s.rt.streams.register(podId, sid, {
    onData: (b) => d.push(b),
    onClosed: () => {
      open = false;
      d.push(null);
    },
  });
  return d;
}
