/**
 * A TCP connection to 127.0.0.1:<port> inside another network namespace (CRI PortForward: a listener bound only
 * to the pod's loopback must be reachable too).
 *
 * Node cannot open a socket from inside another namespace, and the host may have neither socat nor nc, so the
 * relay is this same Node binary started under `nsenter --net=<netns>` with a few lines of script that pipe its
 * stdio to the connection. It prints "ok" on stderr once connected, so a refused port fails the call instead of
 * yielding an empty stream.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { InvalidArgumentError, UnavailableError } from '../errors';
import { handleChildErrors, handleErrors } from '../util/streams';

const CONNECT_TIMEOUT_MS = 10_000;
const RELAY_SCRIPT = `
const c = require('net').connect(Number(process.argv[1]), '127.0.0.1');
c.on('connect', () => { process.stderr.write('ok\\n'); process.stdin.pipe(c); c.pipe(process.stdout); });
c.on('error', (e) => { process.stderr.write(e.message + '\\n'); process.exit(1); });
c.on('close', () => process.exit(0));
process.stdin.on('end', () => c.end());
`;

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidArgumentError(`port forward: bad port ${port}`);
}

/** Connects to 127.0.0.1:port of this (the host's) network namespace. */
export function connectLocal(port: number): Promise<Duplex> {
  checkPort(port);
  return new Promise((resolve, reject) => {
    const sock = handleErrors(net.connect({ host: '127.0.0.1', port }), 'port forward socket');
    const timer = setTimeout(() => sock.destroy(new Error('connect timed out')), CONNECT_TIMEOUT_MS);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(new UnavailableError(`port forward to 127.0.0.1:${port}: ${err.message}`, { cause: err }));
    });
  });
}

/** Connects to 127.0.0.1:port inside the network namespace at `netnsPath` (a bind-mounted netns or /proc/PID/ns/net). */
export function connectInNetns(netnsPath: string, port: number): Promise<Duplex> {
  checkPort(port);
  return new Promise((resolve, reject) => {
    const child = handleChildErrors(
      spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, '-e', RELAY_SCRIPT, String(port)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
      'port forward relay',
    );
    let stderr = '';
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new UnavailableError(`port forward to ${port} in ${netnsPath}: ${why}`));
    };
    const timer = setTimeout(() => fail('connect timed out'), CONNECT_TIMEOUT_MS);
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code) => fail(stderr.trim() || `relay exited with ${code}`));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (settled || !stderr.startsWith('ok\n')) return;
      settled = true;
      clearTimeout(timer);
      // A hand-made Duplex over the relay's pipes: the relay ending is the connection ending, and destroying the
      // stream (the client went away) kills the relay.
      const duplex: Duplex = new Duplex({
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
      handleErrors(duplex, 'port forward relay');
      child.stdout.on('data', (d: Buffer) => {
        if (!duplex.push(d)) child.stdout.pause();
      });
      child.stdout.on('end', () => duplex.push(null));
      resolve(duplex);
    });
  });
}
