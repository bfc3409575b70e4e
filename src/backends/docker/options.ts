/**
 * Per-handler options of the docker backend (`handlers.<name>.options`):
 *
 *   dockerRuntime   Docker runtime name for the handler's pods (HostConfig.Runtime), e.g. "runc" or a runtime
 *                   registered with dockerd's `--add-runtime`; absent: dockerd's default runtime.
 *
 * Example: { "handlers": { "docker": { "backend": "docker", "options": { "dockerRuntime": "runc" } } } }
 */
import { InvalidArgumentError } from '../../errors';
import type { HandlerSpec } from '../backend';

const KNOWN = ['dockerRuntime'];
const RUNTIME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface DockerHandlerOptions {
  readonly dockerRuntime: string;
}

/** Validates one handler's options; InvalidArgumentError names `handlers.<name>.options.<key>`. */
export function parseHandlerOptions(h: HandlerSpec): DockerHandlerOptions {
  const where = `handlers.${h.name}.options`;
  for (const key of Object.keys(h.options)) {
    if (!KNOWN.includes(key)) {
      throw new InvalidArgumentError(
        `configure docker backend: ${where}.${key}: unknown option (known: ${KNOWN.join(', ')})`,
      );
    }
  }
  const rt = h.options.dockerRuntime;
  if (rt !== undefined && (typeof rt !== 'string' || !RUNTIME_NAME.test(rt))) {
    throw new InvalidArgumentError(`configure docker backend: ${where}.dockerRuntime: must be a Docker runtime name`);
  }
  return { dockerRuntime: rt ?? '' };
}
