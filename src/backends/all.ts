/** The built-in backends, by kind. Adding a backend means adding its factory here and nothing else. */
import type { BackendKind } from './backend';
import type { BackendFactory } from './registry';
import { InvalidArgumentError } from '../errors';
import { createDockerBackend } from './docker';
import { createVmBackend } from './vm';
import { createRuncBackend } from './runc';
import { createRktBackend } from './rkt';

const FACTORIES: Partial<Record<BackendKind, BackendFactory>> = {
  docker: createDockerBackend,
  vm: createVmBackend,
  runc: createRuncBackend,
  rkt: createRktBackend,
};

/** The factory of a backend kind; InvalidArgument when this build does not include it. */
export function backendFactory(kind: BackendKind): BackendFactory {
  const f = FACTORIES[kind];
  if (!f) {
    const built = Object.keys(FACTORIES).join(', ') || 'none';
    throw new InvalidArgumentError(`create backend ${kind}: not built into this crimux (built in: ${built})`);
  }
  return f;
}
