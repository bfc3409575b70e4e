/**
 * What a streaming URL stands for: the resolved CRI request (target, backend, options), stored under its token
 * until the client uses the URL once. Like the kubelet's streaming server, the session's options come from this
 * cached request, never from the URL's query, so a client cannot widen what the CRI call allowed.
 */
import type { Backend, StreamOptions } from '../backends/backend';

export type StreamRequest =
  | {
      readonly kind: 'exec';
      readonly backend: Backend;
      readonly containerId: string;
      readonly cmd: readonly string[];
      readonly opts: StreamOptions;
    }
  | { readonly kind: 'attach'; readonly backend: Backend; readonly containerId: string; readonly opts: StreamOptions }
  | {
      readonly kind: 'portforward';
      readonly backend: Backend;
      readonly sandboxId: string;
      readonly ports: readonly number[];
    };

export type StreamKind = StreamRequest['kind'];

export const STREAM_KINDS: readonly StreamKind[] = ['exec', 'attach', 'portforward'];

/** Log fields naming the target of a request (never the token). */
export function targetFields(req: StreamRequest): Record<string, string> {
  return req.kind === 'portforward'
    ? { kind: req.kind, backend: req.backend.name, sandbox: req.sandboxId, ports: req.ports.join(',') }
    : { kind: req.kind, backend: req.backend.name, container: req.containerId };
}
