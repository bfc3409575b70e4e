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

function contextFor(
  env: RpcEnv,
  method: string,
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
): { ctx: CallContext; done: () => void } {
  const controller = new AbortController();
  const onCancel = (): void => controller.abort(new UnavailableError(`${method}: cancelled by the client`));
  call.on('cancelled', onCancel);
  let timer: NodeJS.Timeout | undefined;
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : Number(deadline) - Date.now();
  if (Number.isFinite(ms)) {
    timer = setTimeout(
      () => {
        const err = Object.assign(new Error(`${method}: the caller's deadline passed`), { name: 'TimeoutError' });
        controller.abort(err);
      },
      Math.max(0, ms),
    );
  }
  const ctx = { signal: controller.signal, log: env.log.child({ method }) };
  return {
    ctx,
    done: () => {
      clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}

function observe(env: RpcEnv, method: string, backend: string, code: grpc.status, started: bigint): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  env.metrics.criRequests.inc({ method, backend, code: codeName(code) });
  env.metrics.criRequestDuration.observe({ method, backend }, seconds);
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
  return (call, callback) => {
    const started = process.hrtime.bigint();
    if (!env.ready()) {
      observe(env, method, 'none', grpc.status.UNAVAILABLE, started);
      callback({ code: grpc.status.UNAVAILABLE, details: `${method}: crimux is starting (reconciling state)` });
      return;
    }
    const { ctx, done } = contextFor(env, method, call);
    if (!QUIET.test(method)) ctx.log.debug('request');
    fn(call.request, ctx).then(
      (res) => {
        done();
        observe(env, method, safeBackend(env, call.request, res), grpc.status.OK, started);
        callback(null, res);
      },
      (err: unknown) => {
        done();
        const g = toGrpcError(err);
        observe(env, method, safeBackend(env, call.request, undefined), g.code, started);
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
  return (call) => {
    const started = process.hrtime.bigint();
    if (!env.ready()) {
      observe(env, method, 'none', grpc.status.UNAVAILABLE, started);
      call.emit('error', {
        code: grpc.status.UNAVAILABLE,
        details: `${method}: crimux is starting (reconciling state)`,
      });
      return;
    }
    const { ctx, done } = contextFor(env, method, call);
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
        done();
        observe(env, method, 'none', grpc.status.OK, started);
        call.end();
      },
      (err: unknown) => {
        done();
        const g = toGrpcError(err);
        observe(env, method, 'none', g.code, started);
        if (!call.cancelled) call.emit('error', { code: g.code, details: g.details });
      },
    );
  };
}
