/**
 * The crimux guest agent: PID 1 of every VM after /init (guest/init.sh) execs it. It speaks the protocol of
 * ../protocol.ts over the virtio-serial port "agent" and drives containers with runc (oci.ts) and busybox. Built into one JS file by
 * scripts/build-vm-guest.sh and run by the host's own node binary from the read-only tools disk.
 *
 * Why Node (notes §3): one language for host and guest, shared protocol types; the cost is ~2 s more cold boot
 * than a static C agent under TCG, which template clones (0.4 s) hide, and ~40 MB guest RAM.
 */
import { execFileSync } from 'node:child_process';
import type { HostData, Request } from '../protocol';
import { PROTOCOL_VERSION } from '../protocol';
import { Containers } from './containers';
import { execCommand, execIn } from './exec';
import { findPort, Port } from './port';
import { claim, netconf, stats, warmup } from './system';
import { Streams } from './streams';
import { Refusal } from './util';

const port = new Port(findPort('agent'));
const containers = new Containers((e) => port.send(e));
const streams = new Streams((e) => port.send(e));
const bootedAt = Date.now() - process.uptime() * 1000;

async function handle(req: Request): Promise<Record<string, unknown>> {
  switch (req.op) {
    case 'ping':
      return { version: PROTOCOL_VERSION, uptimeMs: Math.round(Date.now() - bootedAt) };
    case 'claim':
      await claim(req.timeMs, req.seed, req.hostname, req.net, req.sysctls);
      return {};
    case 'netconf':
      return { ifname: await netconf(req) };
    case 'create':
      return { state: await containers.create(req.spec) };
    case 'start':
      return { state: await containers.start(req.cid) };
    case 'kill':
      containers.kill(req.cid, req.signal);
      return {};
    case 'stop':
      return { state: await containers.stop(req.cid, req.signal, req.timeoutMs) };
    case 'remove':
      await containers.remove(req.cid);
      return {};
    case 'exec':
      return { ...(await execIn(containers.target(req.cid), req.args, req.env, req.timeoutMs)) };
    case 'state':
      return { containers: containers.states() };
    case 'stats':
      return { ...stats(containers.ids()) };
    case 'connect':
      return { sid: await streams.connect(req.port) };
    case 'spawn': {
      const cmd = execCommand(containers.target(req.cid), req.args, [], req.tty);
      return { sid: streams.spawn(cmd, req.stdin, req.tty) };
    }
    case 'update':
      containers.update(req.cid, req.memoryLimit, req.cpuQuota, req.cpuPeriod);
      return {};
    case 'warmup':
      await warmup();
      return {};
    case 'shutdown':
      setTimeout(() => execFileSync('/bin/busybox', ['poweroff', '-f']), 50);
      return {};
  }
}

function onLine(line: string): void {
  let msg: Request | HostData;
  try {
    msg = JSON.parse(line) as Request | HostData;
  } catch {
    return; // garbage (e.g. a half line from before a reconnect)
  }
  if (msg.op === 'data') return streams.write(msg.sid, msg.data);
  if (msg.op === 'close') return streams.close(msg.sid);
  if (msg.op === 'killStream') return streams.kill(msg.sid);
  if (msg.op === 'resize') return streams.resize(msg.sid, msg.rows, msg.cols);
  if (msg.op === 'stdin') return containers.writeStdin(msg.cid, Buffer.from(msg.data, 'base64'));
  if (msg.op === 'stdinClose') return containers.closeStdin(msg.cid);
  const req = msg;
  handle(req).then(
    (res) => port.send({ ...res, id: req.id, ok: true }),
    (err: unknown) =>
      port.send({
        id: req.id,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
        ...(err instanceof Refusal ? { code: 'FailedPrecondition' } : {}),
      }),
  );
}

// PID 1 must never die on a stray error: that would panic the guest kernel and kill every container of the pod.
process.on('uncaughtException', (err) => console.error('agent: uncaught', err));
process.on('unhandledRejection', (err) => console.error('agent: unhandled', err));
port.readLines(onLine);
port.send({ ev: 'ready', version: PROTOCOL_VERSION, uptimeMs: Math.round(Date.now() - bootedAt) });
