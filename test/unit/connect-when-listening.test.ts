/**
 * src/host/wait.ts connectWhenListening: how the vm backend reaches qemu's QMP and migration sockets, which appear
 * some time after qemu starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connectWhenListening } from '../../src/host/wait';

test('waits for a socket that starts listening later, and connects', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-connect-'));
  const sock = path.join(dir, 's.sock');
  const server = net.createServer((c) => c.end('hello'));
  const later = setTimeout(() => server.listen(sock), 150);
  try {
    const started = Date.now();
    const conn = await connectWhenListening(sock, 5000, 20);
    assert.ok(Date.now() - started >= 100, 'it retried until the socket existed');
    const got = await new Promise<string>((resolve) => {
      let text = '';
      conn.on('data', (d: Buffer) => (text += d.toString()));
      conn.on('end', () => resolve(text));
    });
    assert.equal(got, 'hello');
  } finally {
    clearTimeout(later);
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('gives up at its bound with the last connect error', async () => {
  const missing = path.join(os.tmpdir(), `crimux-no-such-${process.pid}.sock`);
  const started = Date.now();
  await assert.rejects(connectWhenListening(missing, 200, 20), /ENOENT/);
  const took = Date.now() - started;
  assert.ok(took >= 150 && took < 2000, `bounded (${took} ms)`);
});
