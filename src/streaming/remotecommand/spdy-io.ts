/**
 * The client side of an exec/attach session over SPDY: the client opens one stream per role, named by its
 * `streamType` header (error, stdin, stdout, stderr, resize). We wait, bounded, until every stream the CRI
 * request implies is there — as the kubelet does, since data may only flow once all are set up.
 */
import type { StreamOptions } from '../../backends/backend';
import type { SpdySession } from '../spdy/session';
import { RstStatus } from '../spdy/frames';
import type { SpdyStream } from '../spdy/stream';
import { protocolTraits } from './protocols';
import type { ClientStreams } from './run';
import { encodeStatus, type K8sStatus } from './status';

type Role = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';
const ROLES: readonly Role[] = ['error', 'stdin', 'stdout', 'stderr', 'resize'];

/** The streams this session must receive before it starts. */
export function expectedRoles(opts: StreamOptions, protocol: string): Set<Role> {
  const roles = new Set<Role>(['error']);
  if (opts.stdin) roles.add('stdin');
  if (opts.stdout) roles.add('stdout');
  if (opts.stderr && !opts.tty) roles.add('stderr');
  if (opts.tty && protocolTraits(protocol).resizeStream) roles.add('resize');
  return roles;
}

/** Resolves with the client's streams, or with an error message when they did not all arrive in time. */
export function collectSpdyStreams(
  session: SpdySession,
  protocol: string,
  opts: StreamOptions,
  timeoutMs: number,
): Promise<ClientStreams | { error: string }> {
  const expected = expectedRoles(opts, protocol);
  const got = new Map<Role, SpdyStream>();
  return new Promise((resolve) => {
    const settle = (v: ClientStreams | { error: string }): void => {
      clearTimeout(timer);
      session.off('stream', onStream);
      session.off('close', onClose);
      resolve(v);
    };
    const timer = setTimeout(
      () =>
        settle({
          error: `timed out waiting for client to create streams (have ${[...got.keys()].join(',') || 'none'})`,
        }),
      timeoutMs,
    );
    const onClose = (): void => settle({ error: 'connection closed before all streams were created' });
    const onStream = (s: SpdyStream): void => {
      const role = s.header('streamtype') as Role | undefined;
      if (!role || !ROLES.includes(role) || got.has(role)) {
        s.reset(RstStatus.REFUSED_STREAM);
        return;
      }
      s.accept();
      got.set(role, s);
      // A stream the CRI request did not ask for: finish our side so a client waiting on it is not stuck.
      if (!expected.has(role)) s.end();
      if ([...expected].every((r) => got.has(r))) settle(spdyClientStreams(session, protocol, got, opts));
    };
    session.on('stream', onStream);
    session.once('close', onClose);
  });
}

function spdyClientStreams(
  session: SpdySession,
  protocol: string,
  got: Map<Role, SpdyStream>,
  opts: StreamOptions,
): ClientStreams {
  const json = protocolTraits(protocol).statusJson;
  const error = got.get('error');
  const gone = new Promise<void>((resolve) => (session.isClosed ? resolve() : session.once('close', () => resolve())));
  const stdin = opts.stdin ? got.get('stdin') : undefined;
  const resize = opts.tty ? got.get('resize') : undefined;
  // Whatever the client sends on any other stream is drained, so it can never block the shared socket.
  for (const s of got.values()) if (s !== stdin && s !== resize) s.resume();
  return {
    stdin,
    stdout: opts.stdout ? got.get('stdout') : undefined,
    stderr: opts.stderr && !opts.tty ? got.get('stderr') : undefined,
    resize,
    gone,
    isGone: () => session.isClosed,
    writeStatus: (status: K8sStatus) =>
      new Promise<void>((resolve) => {
        if (!error || session.isClosed) return resolve();
        const bytes = encodeStatus(status, json);
        if (bytes) error.write(bytes);
        error.end(() => resolve());
        void gone.then(() => resolve());
      }),
    finish: () => {
      for (const s of got.values()) if (!s.writableEnded) s.end();
      session.close();
    },
  };
}
