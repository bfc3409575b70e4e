/**
 * The CRI server's own listener (in process, stub handlers): a drain lets calls in flight finish on native and on
 * filtered connections, resolves long before its grace period, closes every connection and removes the socket;
 * a stale socket is replaced and the mode is 0660.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageServiceHandlers } from '../../src/cri/generated/runtime/v1/ImageService';
import type { RuntimeServiceHandlers } from '../../src/cri/generated/runtime/v1/RuntimeService';
import { CriServer } from '../../src/cri/server';
import { nullLogger } from '../../src/log/logger';
import { CriClient } from '../helpers/cri-client';
import { TestEncoder, grpcRequest } from './hpack-encoder';
import { RawConnection, emptyMessage, headersFrames } from './raw-h2';

const SLOW_MS = 400;
const version = (_call: unknown, cb: (e: null, v: object) => void): void => {
  setTimeout(
    () => cb(null, { version: '1', runtime_name: 'stub', runtime_version: '1', runtime_api_version: 'v1' }),
    SLOW_MS,
  );
};

describe('CRI server listener', { timeout: 60_000 }, () => {
  let dir = '';
  let sock = '';

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-wire-server-'));
    sock = path.join(dir, 'cri.sock');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replaces a stale socket, serves 0660, and drains calls in flight on native and filtered connections', async () => {
    // A stale socket, as a crashed daemon leaves it: bound, nobody listening.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
    assert.ok(fs.statSync(sock).isSocket());
    const server = new CriServer(
      { socketPath: sock, socketGroup: '', maxMessageBytes: 1 << 20, log: nullLogger() },
      { Version: version } as unknown as RuntimeServiceHandlers,
      {} as ImageServiceHandlers,
    );
    await server.listen();
    assert.equal(fs.statSync(sock).mode & 0o777, 0o660);

    const client = new CriClient(sock);
    await client.rt('Version', {}); // connected (native: localhost)
    const raw = await RawConnection.open(sock);
    raw.write(Buffer.concat([headersFrames(1, new TestEncoder().encode(grpcRequest('/run/x.sock'))), emptyMessage(1)]));
    const inFlight = client.rt('Version', {});
    await new Promise((r) => setTimeout(r, 50));

    const t0 = Date.now();
    await server.drain(10_000);
    const took = Date.now() - t0;
    assert.equal((await inFlight).runtime_name, 'stub', 'the native call in flight finished');
    await raw.until('filtered stream answered', () => raw.answered(1) || raw.closed);
    assert.ok(raw.answered(1), `the filtered call in flight finished: ${raw.summary()}`);
    assert.ok(took < 5_000, `drain took ${took} ms`);
    await raw.until('connection closed', () => raw.closed);
    assert.ok(!fs.existsSync(sock), 'socket removed');
    client.close();
  });
});
