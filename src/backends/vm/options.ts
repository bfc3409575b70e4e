/** Per-handler options of vm handlers (`handlers.<name>.options`), validated when the backend is created. */
import { bool, parseHandlerOptions, positiveInt } from '../../config/handler-options';
import type { HandlerSpec } from '../backend';

export interface VmHandlerOptions {
  /** Guest RAM of this handler's pods without limits (overrides backends.vm.memoryMiB). */
  readonly memoryMiB?: number;
  /** vCPUs of this handler's pods without CPU limits (overrides backends.vm.vcpus). */
  readonly vcpus?: number;
  /** false: always cold boot (e.g. to measure, or for a guest that must not share a template's CRNG state). */
  readonly template?: boolean;
}

const OPTIONS = { memoryMiB: positiveInt, vcpus: positiveInt, template: bool };

export function handlerOptions(h: HandlerSpec): VmHandlerOptions {
  return parseHandlerOptions(h, OPTIONS, 'create vm backend');
}
