/**
 * A promise-based CRI client for tests, built on @grpc/grpc-js and the project's own proto (the same loader
 * options as the daemon). `rt('RunPodSandbox', req)` / `img('PullImage', req)`; errors are grpc ServiceErrors
 * (with .code and .details).
 */
import * as grpc from '@grpc/grpc-js';
import { loadCriProto } from '../../src/cri/proto';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { RuntimeServiceClient, RuntimeServiceDefinition } from '../../src/cri/generated/runtime/v1/RuntimeService';
import type { ImageServiceClient, ImageServiceDefinition } from '../../src/cri/generated/runtime/v1/ImageService';

export interface CallOptions {
  /** Deadline of this call; 60 s by default so a hung daemon fails the test instead of hanging it. */
  deadlineMs?: number;
}

/** Request (input shape) and response (output shape, defaults filled) of each method, from the generated definitions. */
type Req<D, M extends keyof D> = D[M] extends MethodDefinition<infer Q, infer _A, infer _B, infer _C> ? Q : never;
type Res<D, M extends keyof D> = D[M] extends MethodDefinition<infer _A, infer _B, infer _C, infer R> ? R : never;
/** The unary methods (the generated definitions type streaming flags as plain booleans, so go by name). */
type Unary<D> = Exclude<keyof D & string, `Stream${string}` | 'GetContainerEvents'>;

export class CriClient {
  readonly runtime: RuntimeServiceClient;
  readonly image: ImageServiceClient;

  /** `socket` is a unix socket path, or a gRPC target with a scheme (e.g. "ipv4:127.0.0.1:10010", test/node-vm). */
  constructor(readonly socket: string) {
    const proto = loadCriProto();
    const opts = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    const target = /^[a-z0-9]+:[^/]/.test(socket) ? socket : `unix://${socket}`;
    this.runtime = new proto.runtime.v1.RuntimeService(target, grpc.credentials.createInsecure(), opts);
    this.image = new proto.runtime.v1.ImageService(target, grpc.credentials.createInsecure(), opts);
  }

  rt<M extends Unary<RuntimeServiceDefinition>>(
    method: M,
    req: Req<RuntimeServiceDefinition, M>,
    opts: CallOptions = {},
  ): Promise<Res<RuntimeServiceDefinition, M>> {
    return call(this.runtime, method, req, opts) as Promise<Res<RuntimeServiceDefinition, M>>;
  }

  img<M extends Unary<ImageServiceDefinition>>(
    method: M,
    req: Req<ImageServiceDefinition, M>,
    opts: CallOptions = {},
  ): Promise<Res<ImageServiceDefinition, M>> {
    return call(this.image, method, req, opts) as Promise<Res<ImageServiceDefinition, M>>;
  }

  close(): void {
    this.runtime.close();
    this.image.close();
  }
}

function call(client: grpc.Client, method: string, req: unknown, opts: CallOptions): Promise<unknown> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => grpc.ClientUnaryCall>)[method];
  if (!fn) throw new Error(`no such CRI method ${method}`);
  const deadline = new Date(Date.now() + (opts.deadlineMs ?? 60_000));
  return new Promise((resolve, reject) => {
    fn.call(client, req, new grpc.Metadata(), { deadline }, (err: grpc.ServiceError | null, res: unknown) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** Asserts a promise rejects with a gRPC status code; returns the error for more checks. */
export async function rejectsWithCode(p: Promise<unknown>, code: grpc.status): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code !== code) {
      throw new Error(
        `expected gRPC ${grpc.status[code]}, got ${grpc.status[e.code] ?? e.code}: ${e.details ?? e.message}`,
        {
          cause: err,
        },
      );
    }
    return e;
  }
  throw new Error(`expected gRPC ${grpc.status[code]}, but the call succeeded`);
}

export { grpc };
