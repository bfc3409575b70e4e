/**
 * A remote-command (exec/attach) client for tests, over SPDY (as client-go's v2–v4 protocol does: one stream per
 * role, status read from the error stream until its FIN) or WebSocket (channel-prefixed messages, as client-go's
 * v5 and older channel protocols). One interface for both, so each test runs against either transport.
 */
import WebSocket from 'ws';
import type { SpdyStream } from '../../../src/streaming/spdy/stream';
import { spdyUpgrade } from './spdy-client';

export interface RcOptions {
  transport: 'spdy' | 'ws';
  /** e.g. v4.channel.k8s.io (SPDY), v5.channel.k8s.io or v4.base64.channel.k8s.io (WebSocket). */
  protocol: string;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  tty?: boolean;
}

export interface RcResult {
  stdout: string;
  stderr: string;
  /** Raw bytes of the error stream/channel: a metav1.Status JSON for v4+, a message or nothing before. */
  status: string;
}

export interface RcSession {
  readonly protocol: string;
  write(data: string): void;
  /** SPDY: FIN on the stdin stream. WebSocket v5: the close signal for channel 0. */
  endStdin(): void;
  resize(width: number, height: number): void;
  stdout(): string;
  /** Resolves with stdout once it matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Everything, once the server finished the session. */
  done: Promise<RcResult>;
  /** Drop the connection without a goodbye (the client "went away"). */
  abort(): void;
}

export async function connectRc(url: string, opts: RcOptions): Promise<RcSession> {
  const acc = { stdout: '', stderr: '', status: '' };
  const waiters = new Set<() => void>();
  const changed = (): void => waiters.forEach((w) => w());
  const waitFor = (pattern: RegExp, timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pattern.test(acc.stdout)) return;
        cleanup();
        resolve(acc.stdout);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`stdout did not match ${pattern} within ${timeoutMs} ms; got ${JSON.stringify(acc.stdout)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const base = { waitFor, stdout: () => acc.stdout };
  return opts.transport === 'spdy'
    ? connectSpdy(url, opts, acc, changed, base)
    : connectWs(url, opts, acc, changed, base);
}

type Acc = { stdout: string; stderr: string; status: string };
type Base = Pick<RcSession, 'waitFor' | 'stdout'>;

async function connectSpdy(
  url: string,
  opts: RcOptions,
  acc: Acc,
  changed: () => void,
  base: Base,
): Promise<RcSession> {
  const up = await spdyUpgrade(url, { protocols: [opts.protocol] });
  if (!up.session) throw new Error(`upgrade refused: ${up.status} ${up.body}`);
  const session = up.session;
  const open = (type: string): Promise<SpdyStream> => session.openStream({ streamType: type });
  const error = await open('error');
  const stdin = opts.stdin ? await open('stdin') : undefined;
  const stdout = opts.stdout !== false ? await open('stdout') : undefined;
  const stderr = opts.stderr && !opts.tty ? await open('stderr') : undefined;
  const resize = opts.tty && !/^(v2\.)?channel\.k8s\.io$/.test(opts.protocol) ? await open('resize') : undefined;
  const collect = (s: SpdyStream | undefined, key: keyof Acc): Promise<void> =>
    new Promise((resolve) => {
      if (!s) return resolve();
      s.on('data', (d: Buffer) => {
        acc[key] += d.toString();
        changed();
      });
      s.on('end', () => resolve());
      s.on('close', () => resolve());
    });
  const done = Promise.all([collect(error, 'status'), collect(stdout, 'stdout'), collect(stderr, 'stderr')]).then(
    () => {
      session.close(1000);
      return { ...acc };
    },
  );
  return {
    ...base,
    protocol: up.protocol ?? '',
    write: (d) => stdin?.write(d),
    endStdin: () => stdin?.end(),
    resize: (w, h) => resize?.write(JSON.stringify({ Width: w, Height: h }) + '\n'),
    done,
    abort: () => session.destroy(),
  };
}

async function connectWs(url: string, opts: RcOptions, acc: Acc, changed: () => void, base: Base): Promise<RcSession> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), opts.protocol ? [opts.protocol] : [], {
    rejectUnauthorized: false,
  });
  const b64 = opts.protocol.includes('base64');
  const done = new Promise<RcResult>((resolve) => ws.once('close', () => resolve({ ...acc })));
  // Listen before 'open': frames that arrive with the 101 response are emitted in the same tick.
  const keys: Record<number, keyof Acc> = { 1: 'stdout', 2: 'stderr', 3: 'status' };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (data.length === 0) return;
    const ch = b64 && !isBinary ? (data[0] ?? 0) - 48 : (data[0] ?? 0);
    const payload = b64 && !isBinary ? Buffer.from(data.subarray(1).toString('latin1'), 'base64') : data.subarray(1);
    const key = keys[ch];
    if (key) {
      acc[key] += payload.toString();
      changed();
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`websocket upgrade refused: ${res.statusCode}`)));
  });
  ws.on('error', () => undefined);
  const send = (ch: number, payload: Buffer): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (b64) ws.send(String.fromCharCode(48 + ch) + payload.toString('base64'));
    else ws.send(Buffer.concat([Buffer.of(ch), payload]));
  };
  return {
    ...base,
    protocol: ws.protocol,
    write: (d) => send(0, Buffer.from(d)),
    endStdin: () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.of(255, 0));
    },
    resize: (w, h) => send(4, Buffer.from(JSON.stringify({ Width: w, Height: h }))),
    done,
    abort: () => ws.terminate(),
  };
}
