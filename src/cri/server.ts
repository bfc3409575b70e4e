/**
 * The CRI gRPC server on a unix socket: parent directory created, a stale socket replaced, mode 0660 (group
 * configurable), message limits both ways, and a graceful drain on shutdown.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger';
import { loadCriProto } from './proto';
import type { RuntimeServiceHandlers } from './generated/runtime/v1/RuntimeService';
import type { ImageServiceHandlers } from './generated/runtime/v1/ImageService';
import { InvalidArgumentError } from '../errors';

export interface CriServerOptions {
  socketPath: string;
  socketGroup: string;
  maxMessageBytes: number;
  log: Logger;
}

export class CriServer {
  private readonly server: grpc.Server;

  constructor(
    private readonly opts: CriServerOptions,
    runtime: RuntimeServiceHandlers,
    image: ImageServiceHandlers,
  ) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
    });
    const proto = loadCriProto();
    this.server.addService(proto.runtime.v1.RuntimeService.service, runtime);
    this.server.addService(proto.runtime.v1.ImageService.service, image);
  }

  async listen(): Promise<void> {
    const sock = this.opts.socketPath;
    fs.mkdirSync(path.dirname(sock), { recursive: true, mode: 0o711 });
    removeStaleSocket(sock);
    // Create the socket with no access for others, then open it to the group: no window where it is wider.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) =>
        this.server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(sock, 0o660);
    if (this.opts.socketGroup) fs.chownSync(sock, 0, resolveGid(this.opts.socketGroup));
    this.opts.log.info('CRI server listening', { socket: sock });
  }

  /** Stops accepting calls and waits up to graceMs for running ones, then cancels the rest. */
  async drain(graceMs: number): Promise<void> {
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
