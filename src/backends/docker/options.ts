/**
 * Per-handler options of the docker backend (`handlers.<name>.options`):
 *
 *   dockerRuntime   Docker runtime name for the handler's pods (HostConfig.Runtime), e.g. "runc" or a runtime
 *                   registered with dockerd's `--add-runtime`; absent: dockerd's default runtime.
 *
 * Example: { "handlers": { "docker": { "backend": "docker", "options": { "dockerRuntime": "runc" } } } }
 */
import { matching, parseHandlerOptions as parseOptions } from '../../config/handler-options';
import type { HandlerSpec } from '../backend';

const OPTIONS = { dockerRuntime: matching(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a Docker runtime name') };

export interface DockerHandlerOptions {
  readonly dockerRuntime: string;
}

/** Validates one handler's options; InvalidArgumentError names `handlers.<name>.options.<key>`. */
export function parseHandlerOptions(h: HandlerSpec): DockerHandlerOptions {
  return { dockerRuntime: parseOptions(h, OPTIONS, 'configure docker backend').dockerRuntime ?? '' };
}
