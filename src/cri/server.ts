/**
 * The CRI gRPC server on a unix socket: parent directory created, a stale socket replaced, mode 0660 (group
 * configurable), message limits both ways, and a graceful drain on shutdown.
 *
 * crimux accepts the connections itself and hands each to the gRPC server of `server.transport`:
 * - "lean", the default: crimux's gRPC layer (./direct/) on crimux's own HTTP/2 server (./h2/), which answers a
 *   call at about containerd's cost (bench/results/transport.md, issue #21) and takes any `:authority`;
 * - "direct": the same gRPC layer on node:http2;
 * - "grpc-js": @grpc/grpc-js's server (Server.createConnectionInjector).
 * nghttp2, under the last two, refuses the socket-path `:authority` that grpc-go clients up to kubelet 1.30 send:
 * their connections go through a frame filter that makes it acceptable (./wire/). All three run the same
 * grpc-js-style handlers.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger';
import { loadCriProto } from './proto';
import type { RuntimeServiceHandlers } from './generated/runtime/v1/RuntimeService';
import type { ImageServiceHandlers } from './generated/runtime/v1/ImageService';
import { InvalidArgumentError } from '../errors';
import { adoptConnection } from './wire/connection';
import { DirectServer } from './direct/server';
import { withReplyEncoding } from './reply-encoding';

export type Transport = 'grpc-js' | 'direct' | 'lean';

export interface CriServerOptions {
  socketPath: string;
  socketGroup: string;
  maxMessageBytes: number;
  log: Logger;
  /** Rewrite refused `:authority` values (default true); off only to measure the filter's cost (bench/router.ts). */
  authorityFilter?: boolean;
  /** Which gRPC server serves the calls; "lean" unless said otherwise. */
  transport?: Transport;
}

/** What CriServer needs from a gRPC server: connections handed in, and grpc-js's two shutdowns. */
interface CallServer {
  injectConnection(conn: Duplex): void;
  tryShutdown(done: () => void): void;
  forceShutdown(): void;
  /** After either shutdown: release what is left. */
  close(): void;
}

function grpcJsServer(opts: CriServerOptions, runtime: object, image: object): CallServer {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes,
    'grpc.max_send_message_length': opts.maxMessageBytes,
  });
  const proto = loadCriProto();
  server.addService(
    withReplyEncoding(proto.runtime.v1.RuntimeService.service),
    runtime as grpc.UntypedServiceImplementation,
  );
  server.addService(
    withReplyEncoding(proto.runtime.v1.ImageService.service),
    image as grpc.UntypedServiceImplementation,
  );
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return {
    injectConnection: (conn) => injector.injectConnection(conn),
    tryShutdown: (done) => server.tryShutdown(() => done()),
    forceShutdown: () => server.forceShutdown(),
    close: () => injector.destroy(),
  };
}

function directServer(opts: CriServerOptions, runtime: object, image: object): CallServer {
  const http2 = opts.transport === 'direct' ? 'node' : 'lean';
  const server = new DirectServer({ maxMessageBytes: opts.maxMessageBytes, log: opts.log, http2 });
  const proto = loadCriProto();
  server.addService(withReplyEncoding(proto.runtime.v1.RuntimeService.service), runtime);
  server.addService(withReplyEncoding(proto.runtime.v1.ImageService.service), image);
  return server;
}

export class CriServer {
  private readonly server: CallServer;
  private readonly listener: net.Server;
  /** Open client connections, destroyed after the drain so none outlives the server. */
  private readonly connections = new Set<net.Socket>();
  private draining = false;

  constructor(
    private readonly opts: CriServerOptions,
    runtime: RuntimeServiceHandlers,
    image: ImageServiceHandlers,
  ) {
    const make = (opts.transport ?? 'lean') === 'grpc-js' ? grpcJsServer : directServer;
    this.server = make(opts, runtime, image);
    this.listener = net.createServer((socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
    const onError = (err: Error): void => this.opts.log.debug('CRI connection closed', { error: err.message });
    // The lean HTTP/2 server takes any :authority: no filter in front of it.
    if (this.opts.authorityFilter === false || (this.opts.transport ?? 'lean') === 'lean') {
      socket.on('error', onError);
      this.server.injectConnection(socket);
      return;
    }
    adoptConnection(
      socket,
      // A connection whose first request completes during the drain is not handed to a server shutting down.
      (conn) => {
        if (this.draining) return void conn.destroy();
        this.opts.log.debug('CRI connection handed over', { filtered: !(conn instanceof net.Socket) });
        this.server.injectConnection(conn);
      },
      onError,
    );
  }

  async listen(): Promise<void> {
    const sock = this.opts.socketPath;
    fs.mkdirSync(path.dirname(sock), { recursive: true, mode: 0o711 });
    removeStaleSocket(sock);
    // Create the socket with no access for others, then open it to the group: no window where it is wider.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.listener.once('error', reject);
        this.listener.listen(sock, () => {
          this.listener.off('error', reject);
          resolve();
        });
      });
      // After listen, an accept error (e.g. EMFILE) is logged; it must not end the daemon.
      this.listener.on('error', (err) => this.opts.log.warn('CRI socket accept failed', { error: err.message }));
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(sock, 0o660);
    if (this.opts.socketGroup) fs.chownSync(sock, 0, resolveGid(this.opts.socketGroup));
    this.opts.log.info('CRI server listening', { socket: sock, transport: this.opts.transport ?? 'lean' });
  }

  /** Stops accepting calls and waits up to graceMs for running ones, then cancels the rest. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    this.listener.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.opts.log.warn('drain timed out; cancelling open calls');
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.server.close();
    for (const socket of this.connections) socket.destroy();
    fs.rmSync(this.opts.socketPath, { force: true });
  }
}

function removeStaleSocket(sock: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(sock);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new InvalidArgumentError(`listen on ${sock}: exists and is not a socket`);
  fs.rmSync(sock);
}

function resolveGid(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  const line = execFileSync('getent', ['group', group], { encoding: 'utf8' }).trim();
  const gid = Number(line.split(':')[2]);
  if (!Number.isInteger(gid)) throw new InvalidArgumentError(`socket.group: unknown group "${group}"`);
  return gid;
}
