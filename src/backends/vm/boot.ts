/**
 * Bringing a VM up: a cold boot (kernel → /init → agent, ≈4 s under TCG) or a clone of a template snapshot
 * (qemu -incoming from the state file, then `cont`: ≈0.5 s). Both end with the agent answering a ping.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UnavailableError } from '../../errors';
import { connectWhenListening, pollUntil } from '../../host/wait';
import type { Logger } from '../../log/logger';
import type { Event } from './protocol';
import { Qmp } from './qmp';
import { startQemu, type QemuSpec } from './qemu';
import { Vm } from './vm';

export interface BootResult {
  readonly vm: Vm;
  readonly ms: number;
  readonly cloned: boolean;
}

export interface BootHooks {
  readonly onEvent: (e: Event) => void;
  readonly onConnect?: () => Promise<void>;
  readonly log: Logger;
}

/** Cold boot or (with spec.incoming) clone; kills the VM again if the agent does not answer in time. */
export async function bootVm(
  spec: QemuSpec,
  netns: string | undefined,
  timeoutMs: number,
  hooks: BootHooks,
  signal?: AbortSignal,
): Promise<BootResult> {
  const t0 = Date.now();
  const pid = await startQemu(spec, netns);
  const vm = new Vm(spec.paths, pid, hooks.onEvent, hooks.log, hooks.onConnect);
  try {
    if (spec.incoming) await resume(vm, spec.incoming, timeoutMs);
    await vm.connect(Math.max(1000, timeoutMs - (Date.now() - t0)), signal);
  } catch (err) {
    await vm.destroy().catch(() => undefined);
    throw err;
  }
  return { vm, ms: Date.now() - t0, cloned: spec.incoming !== undefined };
}

/**
 * x-ignore-shared: RAM in a shared memory backend is not in the stream (the clone maps the template's RAM file),
 * so the state file holds only device state (~70 KB instead of ~110 MB) and loads in milliseconds.
 */
const IGNORE_SHARED = { capabilities: [{ capability: 'x-ignore-shared', state: true }] };

/** Load the template state into a qemu started with `-incoming defer`, then let the CPUs run. */
export async function resume(vm: Vm, stateFile: string, timeoutMs: number): Promise<void> {
  const q = await vm.qmp();
  // Capabilities must be set before the load starts, hence `defer` rather than -incoming exec:… on the command line.
  await q.execute('migrate-set-capabilities', IGNORE_SHARED);
  // Not `exec:cat FILE`: qemu's sandbox denies spawning (qemu.ts). qemu listens, crimux streams the file in.
  const sock = migrationSocket(vm);
  fs.rmSync(sock, { force: true });
  await q.execute('migrate-incoming', { uri: `unix:${sock}` });
  // Awaited after the status loop; until then a failed send must not surface as an unhandled rejection (it ended
  // the daemon once: qemu closed the socket while the loop was still polling).
  const sent = sendFile(sock, stateFile, timeoutMs).then(
    () => undefined,
    (err: unknown) => err,
  );
  const loaded = await pollUntil(
    async () => {
      const st = (await q.execute('query-status')) as { status: string };
      if (st.status === 'inmigrate' || st.status === 'setup') return undefined;
      if (st.status !== 'paused' && st.status !== 'postmigrate' && st.status !== 'prelaunch') {
        throw new UnavailableError(`restore vm: unexpected status ${st.status} after loading the template`);
      }
      return true;
    },
    { timeoutMs, intervalMs: 20, maxIntervalMs: 20 },
  );
  if (!loaded) throw new UnavailableError('restore vm: template state not loaded in time');
  const sendError = await sent;
  // qemu stops reading (and closes) once it has loaded the state's end marker; if that races our end of stream the
  // send reports a premature close although the load succeeded, which the status above has just confirmed.
  if (sendError !== undefined && !isPeerClose(sendError)) throw sendError;
  fs.rmSync(sock, { force: true });
  await q.execute('cont');
}

/**
 * Snapshot a booted, idle VM into `stateFile` (QMP stop + migrate to a file) and quit it. The agent connection is
 * closed first, so a clone starts with the guest waiting for a host, exactly like a fresh boot.
 */
export async function snapshotVm(vm: Vm, stateFile: string, timeoutMs: number): Promise<void> {
  vm.disconnect();
  const q: Qmp = await vm.qmp();
  await q.execute('migrate-set-capabilities', IGNORE_SHARED);
  await q.execute('stop');
  // Not `exec:cat > FILE` (qemu may not spawn): crimux listens, qemu connects and streams, crimux writes the file.
  const sock = migrationSocket(vm);
  const received = receiveFile(sock, stateFile, timeoutMs);
  await received.listening;
  await q.execute('migrate', { uri: `unix:${sock}` });
  const completed = await pollUntil(
    async () => {
      const m = (await q.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
      if (m.status === 'completed') return true;
      if (m.status === 'failed' || m.status === 'cancelled') {
        throw new UnavailableError(`snapshot vm: migration ${m.status}: ${m['error-desc'] ?? ''}`);
      }
      return undefined;
    },
    { timeoutMs, intervalMs: 50, maxIntervalMs: 50 },
  );
  if (!completed) throw new UnavailableError('snapshot vm: migration did not complete in time');
  await received.done;
}

function migrationSocket(vm: Vm): string {
  return path.join(vm.paths.dir, 'migrate.sock');
}

function isPeerClose(err: unknown): boolean {
  const text = String(err);
  return /ERR_STREAM_PREMATURE_CLOSE|Premature close|EPIPE|ECONNRESET/.test(text);
}

/** Connects to qemu's incoming-migration socket and streams `file` into it. */
async function sendFile(sock: string, file: string, timeoutMs: number): Promise<void> {
  // qemu creates the listening socket during migrate-incoming; retry briefly if we are early.
  const conn = await connectWhenListening(sock, timeoutMs, 20).catch((err: unknown) => {
    throw new UnavailableError(`restore vm: connect to ${sock}: ${String(err)}`);
  });
  await pipeline(fs.createReadStream(file), conn).catch((err: unknown) => {
    throw new UnavailableError(`restore vm: send template state: ${String(err)}`);
  });
}

/** Listens on `sock` for qemu's outgoing migration and writes what arrives to `file`. */
function receiveFile(sock: string, file: string, timeoutMs: number): { listening: Promise<void>; done: Promise<void> } {
  fs.rmSync(sock, { force: true });
  const server = net.createServer();
  const listening = new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, resolve);
  });
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      server.close();
      reject(new UnavailableError('snapshot vm: qemu did not stream its state in time'));
    }, timeoutMs);
    server.once('connection', (conn) => {
      server.close();
      pipeline(conn, fs.createWriteStream(file, { mode: 0o600 }))
        .then(resolve, (err: unknown) => reject(new UnavailableError(`snapshot vm: write state: ${String(err)}`)))
        .finally(() => {
          clearTimeout(timer);
          fs.rmSync(sock, { force: true });
        });
    });
  });
  done.catch(() => undefined);
  return { listening, done };
}
