/**
 * The host ends of the vm backend's two unix-socket channels, against fakes (no VM, no qemu): whatever the peer
 * sends, and however slowly qemu answers, nothing may escape as an uncaught exception or unhandled rejection —
 * the daemon exits on either (src/cli/crash.ts), and the guest runs untrusted code.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { vmPaths } from '../../src/backends/vm/qemu';
import { PROTOCOL_VERSION, type Event } from '../../src/backends/vm/protocol';
import { Vm } from '../../src/backends/vm/vm';
import { createLogger } from '../../src/log/logger';

let dir = '';
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-vmch-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A unix-socket server that answers each JSON line with what `reply` returns (lines to send, optionally later). */
async function fakePeer(
  sock: string,
  greeting: string[],
  reply: (msg: Record<string, unknown>, send: (lines: string[]) => void) => void,
): Promise<net.Server> {
  const server = net.createServer((conn) => {
    conn.on('error', () => undefined);
    const send = (lines: string[]): void => void (conn.writable && conn.write(lines.map((l) => `${l}\n`).join('')));
    send(greeting);
    let buf = '';
    conn.on('data', (b) => {
      buf += b.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) reply(JSON.parse(line) as Record<string, unknown>, send);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  return server;
}

function capture(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', write: (l) => void lines.push(l) }), lines };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('vm channels survive a misbehaving peer', { timeout: 60_000 }, () => {
  test('agent: non-object lines are dropped, an event handler that throws is logged, later events still arrive', async () => {
    const run = path.join(dir, 'a');
    fs.mkdirSync(run);
    const paths = vmPaths(run, path.join(run, 'console.log'));
    const server = await fakePeer(paths.agentSock, [], (m, send) => {
      if (m.op !== 'ping') return;
      send([
        JSON.stringify({ id: m.id, ok: true, version: PROTOCOL_VERSION }),
        // What a compromised guest might send: all of these used to throw inside the socket callback.
        'null',
        '5',
        '"text"',
        '[1]',
        JSON.stringify({ ev: 'output', cid: 'bad', stream: 'stdout', data: 7 }),
        JSON.stringify({ ev: 'output', cid: 'good', stream: 'stdout', data: 'aGkK' }),
      ]);
    });
    const { log, lines } = capture();
    const got: Event[] = [];
    const vm = new Vm(
      paths,
      process.pid,
      (e) => {
        // Stands in for the runtime's handler, which throws on such an event (Buffer.from(7, 'base64')).
        if (e.ev === 'output' && typeof e.data !== 'string') throw new TypeError('data must be a string');
        got.push(e);
      },
      log,
    );
    try {
      await vm.connect(5000);
      await until('the good event', () => got.length > 0);
      assert.deepEqual(
        got.map((e) => (e.ev === 'output' ? e.cid : e.ev)),
        ['good'],
      );
      assert.equal(lines.filter((l) => l.includes('vm: agent event not handled')).length, 1);
    } finally {
      vm.disconnect();
      await new Promise((r) => server.close(r));
    }
  });

  test('qmp: device_del answered after DEVICE_DELETED timed out — unplug finishes, nothing unhandled', async () => {
    const run = path.join(dir, 'q');
    fs.mkdirSync(run);
    const paths = vmPaths(run, path.join(run, 'console.log'));
    const server = await fakePeer(paths.qmpSock, [JSON.stringify({ QMP: { version: {} } })], (m, send) => {
      // qemu busy: device_del's reply comes after the 10 s the host waits for the DEVICE_DELETED event.
      if (m.execute === 'device_del') setTimeout(() => send([JSON.stringify({ return: {} })]), 10_500);
      else send([JSON.stringify({ return: {} })]);
    });
    const { log, lines } = capture();
    const vm = new Vm(paths, process.pid, () => undefined, log);
    try {
      await vm.unplug(3);
      assert.ok(lines.some((l) => l.includes('vm: device_del') && l.includes('DEVICE_DELETED')));
    } finally {
      vm.disconnect();
      await new Promise((r) => server.close(r));
    }
  });
});
