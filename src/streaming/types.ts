/**
 * What the CRI glue needs from the streaming server (issue #8): a single-use URL for an Exec, Attach or
 * PortForward request whose target has already been resolved to its owning backend.
 */
import type { Backend, StreamOptions } from '../backends/backend';

export interface StreamingUrls {
  exec(target: { backend: Backend; containerId: string; cmd: string[]; opts: StreamOptions }): string;
  attach(target: { backend: Backend; containerId: string; opts: StreamOptions }): string;
  portForward(target: { backend: Backend; sandboxId: string; ports: number[] }): string;
}
