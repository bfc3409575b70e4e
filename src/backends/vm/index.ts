/** The vm backend's factory: one VmBackend for all vm handlers (options are checked here, at daemon start). */
import type { BackendFactory } from '../registry';
import { VmBackend } from './backend';
import { handlerOptions } from './options';

export const createVmBackend: BackendFactory = (deps) => {
  for (const h of deps.handlers) handlerOptions(h);
  return new VmBackend('vm', deps);
};
