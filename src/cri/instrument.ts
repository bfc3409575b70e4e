/**
 * One wrapper for every RPC: readiness gate, a CallContext (AbortSignal from the caller's deadline and
 * cancellation, a logger with the method), logging, metrics (count, duration, by owning backend), and error
 * mapping through src/cri/errors.ts. Handlers stay thin: they turn a request into router calls and shape a reply.
 */
import * as grpc from '@grpc/grpc-js';
import type { CallContext } from '../backends/backend';
import { UnavailableError, errorKind, errorMessage } from '../errors';
import type { Logger } from '../log/logger';
import type { Metrics } from '../metrics/metrics';
import { codeName, toGrpcError } from './errors';

export interface RpcEnv {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** False until start-up reconcile finished: every RPC answers UNAVAILABLE until then. */
  ready(): boolean;
  /** The backend owning the object a request (or its reply) names, for the metrics label; "none" if unknown. */
  backendOf(req: unknown, res: unknown): string;
}

/** Mutations are logged at info by the router; reads are frequent (the kubelet relists every second). */
const QUIET =
  /^(List|Stream|Version|Status|ImageStatus|ContainerStatus|PodSandboxStatus|ImageFsInfo|ContainerStats|PodSandboxStats|RuntimeConfig)/;

/**
 * The CallContext of one RPC. The signal (an AbortController, a 'cancelled' listener and a deadline timer) is
 * set up only when something reads it: calls answered from memory (Version, kept lists) never do, and that
 * setup was a measurable share of their latency (issue #21). A call cancelled before its signal is read gets
 * a signal that is already aborted.
 */
class RpcContext implements CallContext {
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onCancel: (() => void) | undefined;

  constructor(
    readonly log: Logger,
    private readonly method: string,
    private readonly call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  ) {}

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = (this.controller = new AbortController());
    const method = this.method;
    const cancelled = (): void => controller.abort(new UnavailableError(`${method}: cancelled by the client`));
    if (this.call.cancelled) {
      cancelled();
      return controller.signal;
    }
    this.onCancel = cancelled;
    this.call.on('cancelled', cancelled);
    const deadline = this.call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : Number(deadline) - Date.now();
    if (Number.isFinite(ms)) {
      this.timer = setTimeout(
        () => {
          const err = Object.assign(new Error(`${method}: the caller's deadline passed`), { name: 'TimeoutError' });
          controller.abort(err);
        },
        Math.max(0, ms),
      );
    }
    return controller.signal;
  }

  done(): void {
    if (!this.controller) return;
    clearTimeout(this.timer);
    if (this.onCancel) this.call.removeListener('cancelled', this.onCancel);
  }
}

/** Per-method instruments, built once when the handler is wrapped rather than at every call. */
interface MethodInstruments {
  readonly log: Logger;
  readonly quiet: boolean;
  observe(backend: string, code: grpc.status, started: bigint): void;
}

function instrumentsFor(env: RpcEnv, method: string): MethodInstruments {
  return {
    log: env.log.child({ method }),
    quiet: QUIET.test(method),
    observe(backend, code, started) {
      env.metrics.requestServed(method, backend, codeName(code), Number(process.hrtime.bigint() - started) / 1e9);
    },
  };
}

function safeBackend(env: RpcEnv, req: unknown, res: unknown): string {
  try {
    return env.backendOf(req, res);
  } catch {
    return 'none';
  }
}

export function unary<Req, Res>(
  env: RpcEnv,
  method: string,
  fn: (req: Req, ctx: CallContext) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  const m = instrumentsFor(env, method);
  return (call, callback) => {
    const started = process.hrtime.bigint();
    if (!env.ready()) {
      m.observe('none', grpc.status.UNAVAILABLE, started);
      callback({ code: grpc.status.UNAVAILABLE, details: `${method}: crimux is starting (reconciling state)` });
      return;
    }
    const ctx = new RpcContext(m.log, method, call);
    if (!m.quiet) ctx.log.debug('request');
    fn(call.request, ctx).then(
      (res) => {
        ctx.done();
        m.observe(safeBackend(env, call.request, res), grpc.status.OK, started);
        callback(null, res);
      },
      (err: unknown) => {
        ctx.done();
        const g = toGrpcError(err);
        m.observe(safeBackend(env, call.request, undefined), g.code, started);
        const level = errorKind(err) === 'Internal' ? 'error' : 'warn';
        ctx.log[level]('request failed', { code: codeName(g.code), error: errorMessage(err) });
        callback({ code: g.code, details: g.details });
      },
    );
  };
}

export function serverStream<Req, Res>(
  env: RpcEnv,
  method: string,
  fn: (req: Req, ctx: CallContext, write: (res: Res) => Promise<void>) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  const m = instrumentsFor(env, method);
  return (call) => {
    const started = process.hrtime.bigint();
    if (!env.ready()) {
      m.observe('none', grpc.status.UNAVAILABLE, started);
      call.emit('error', {
        code: grpc.status.UNAVAILABLE,
        details: `${method}: crimux is starting (reconciling state)`,
      });
      return;
    }
    const ctx = new RpcContext(m.log, method, call);
    // Back-pressure: a slow reader makes write() wait for 'drain' instead of buffering without bound.
    const write = (res: Res): Promise<void> =>
      new Promise((resolve, reject) => {
        if (ctx.signal.aborted) return reject(ctx.signal.reason);
        if (call.write(res)) return resolve();
        const onDrain = (): void => {
          ctx.signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          call.removeListener('drain', onDrain);
          reject(ctx.signal.reason);
        };
        call.once('drain', onDrain);
        ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
    fn(call.request, ctx, write).then(
      () => {
        ctx.done();
        m.observe('none', grpc.status.OK, started);
        call.end();
      },
      (err: unknown) => {
        ctx.done();
        const g = toGrpcError(err);
        m.observe('none', g.code, started);
        if (!call.cancelled) call.emit('error', { code: g.code, details: g.details });
      },
    );
  };
}
