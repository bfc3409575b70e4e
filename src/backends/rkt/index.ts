/**
 * The rkt backend's factory: rktlet's CRI-to-rkt bridge in TypeScript, over a real rkt binary (backends.rkt.rkt.path)
 * or the built-in systemd-nspawn stage1 (the default). Handlers take no options yet; any given is refused by name.
 */
import { InvalidArgumentError } from '../../errors';
import type { BackendFactory } from '../registry';
import { RktBackend } from './backend';
import { rktConfig } from './open';
import { RktImageStore } from './rkt-cli/image-store';

export const createRktBackend: BackendFactory = (deps) => {
  for (const h of deps.handlers) {
    for (const key of Object.keys(h.options)) {
      throw new InvalidArgumentError(`handlers.${h.name}.options.${key}: the rkt backend takes no handler options`);
    }
  }
  // A real rkt keeps its own image store (rktlet's image service); the built-in stage1 uses the shared OCI store.
  // The rkt store reaches the pod manager through the backend, which exists once the constructor returned.
  const self: { backend?: RktBackend } = {};
  const images = rktConfig(deps).rkt.path
    ? new RktImageStore(() => (self.backend as RktBackend).podManager())
    : deps.sharedImages;
  self.backend = new RktBackend('rkt', deps, images);
  return self.backend;
};
