/**
 * What the router adds to a CreateContainer request before a backend sees it, for tests and benches that call a
 * backend directly: the container's log path, by the router's one rule (src/router/validate.ts).
 */
import type { CreateContainerRequest } from '../../src/backends/backend';
import { containerLogPath } from '../../src/router/validate';

export function withLogPath(req: Omit<CreateContainerRequest, 'logPath'>): CreateContainerRequest {
  return { ...req, logPath: containerLogPath(req.config, req.sandboxConfig) };
}
