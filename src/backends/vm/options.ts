/** Per-handler options of vm handlers (`handlers.<name>.options`), validated when the backend is created. */
import { InvalidArgumentError } from '../../errors';
import type { HandlerSpec } from '../backend';

export interface VmHandlerOptions {
  /** Guest RAM of this handler's pods without limits (overrides backends.vm.memoryMiB). */
  readonly memoryMiB?: number;
  /** vCPUs of this handler's pods without CPU limits (overrides backends.vm.vcpus). */
  readonly vcpus?: number;
  /** false: always cold boot (e.g. to measure, or for a guest that must not share a template's CRNG state). */
  readonly template?: boolean;
}

const KEYS = ['memoryMiB', 'vcpus', 'template'];

export function handlerOptions(h: HandlerSpec): VmHandlerOptions {
  const o = h.options;
  const bad = (key: string, why: string): never => {
    throw new InvalidArgumentError(`create vm backend: handlers.${h.name}.options.${key}: ${why}`);
  };
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) bad(k, `unknown option (allowed: ${KEYS.join(', ')})`);
  const posInt = (k: string): number | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad(k, 'must be a positive integer');
    return v as number;
  };
  if (o.template !== undefined && typeof o.template !== 'boolean') bad('template', 'must be a boolean');
  return { memoryMiB: posInt('memoryMiB'), vcpus: posInt('vcpus'), template: o.template as boolean | undefined };
}
