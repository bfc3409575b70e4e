/**
 * PortForward: a TCP connection to 127.0.0.1:<port> inside the pod's network namespace, as the kubelet means it
 * (a listener bound only to the pod's loopback is reachable too).
 *
 * Node cannot open a socket from inside another network namespace, so a tiny relay runs there: this same Node
 * binary under `nsenter --net=<pinned netns>`, piping its stdio to the connection. It reports "connected" on
 * stderr once the connection is up, so a refused port fails the call instead of an empty stream. Host-network
 * pods share our namespace and are connected to directly. No socat/nc is needed on the host.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { CallContext } from '../backend';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from '../../errors';
import { spawnInNetns } from '../../network';
import type { DockerShared } from './context';
import { readSandbox } from './records';
import { handleChildErrors, handleErrors } from '../../util/streams';

const CONNECT_TIMEOUT_MS = 10_000;
const RELAY = [
  "const s = require('net').connect(Number(process.argv[1]), '127.0.0.1');",
  "s.on('connect', () => { process.stderr.write('connected\\n'); process.stdin.pipe(s); s.pipe(process.stdout); });",
  "s.on('error', (e) => { process.stderr.write('error ' + e.message + '\\n'); process.exit(1); });",
  "s.on('close', () => process.exit(0));",
  "process.stdin.on('end', () => s.end());",
].join('\n');

export async function portForward(s: DockerShared, ctx: CallContext, sandboxId: string, port: number): Promise<Duplex> {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidArgumentError(`port forward: bad port ${port}`);
  const pause = await s.lookup.inspect('sandbox', sandboxId, ctx.signal);
  if (!pause) throw new NotFoundError(`port forward: sandbox ${sandboxId} not found in docker`);
  if (!pause.State.Running) throw new FailedPreconditionError(`port forward: sandbox ${sandboxId} is not ready`);
  if (readSandbox(pause.Config.Labels)?.hostNetwork) return direct(port);
  return relay(s.network.netnsPath(sandboxId), port, sandboxId);
}

function direct(port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const sock = handleErrors(net.connect({ host: '127.0.0.1', port }), 'port forward socket');
    const timer = setTimeout(() => sock.destroy(new Error('connect timed out')), CONNECT_TIMEOUT_MS);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(new UnavailableError(`port forward to host port ${port}: ${err.message}`, { cause: err }));
    });
  });
}

function relay(netns: string, port: number, sandboxId: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const child = handleChildErrors(
      spawnInNetns(netns, [process.execPath, '-e', RELAY, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] }),
      'port forward relay',
    );
    let err = '';
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new UnavailableError(`port forward to ${sandboxId}:${port}: ${why}`));
    };
    const timer = setTimeout(() => fail('connect timed out'), CONNECT_TIMEOUT_MS);
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code) => fail(err.trim() || `relay exited with ${code}`));
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
      if (settled || !err.includes('connected\n')) return;
      settled = true;
      clearTimeout(timer);
      if (!child.stdout || !child.stdin) return fail('relay has no stdio');
      // Destroying a Duplex.from() stream emits AbortError: without a listener that ended the daemon (#27).
      const duplex = handleErrors(Duplex.from({ readable: child.stdout, writable: child.stdin }), 'port forward relay');
      duplex.on('close', () => child.kill('SIGKILL'));
      resolve(duplex);
    });
  });
}
