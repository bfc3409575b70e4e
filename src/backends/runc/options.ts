/**
 * Per-handler options of the runc backend (`handlers.<name>.options`), validated when the backend is built so a
 * bad config is refused at start-up with the key to fix:
 *   runtimePath  OCI runtime binary for this handler (default backends.runc.runtimePath)
 *   runtimeRoot  the runtime's --root (default <runDir>/runc/root/<handler>); two handlers with two roots never
 *                see each other's containers, which is how RuntimeClass routing is shown on one machine
 *   runtimeArgs  extra global flags for the runtime, e.g. ["--debug"]
 */
import * as path from 'node:path';
import type { HandlerSpec } from '../backend';
import { InvalidArgumentError } from '../../errors';

export interface RuncHandlerOptions {
  readonly name: string;
  readonly runtimePath: string;
  readonly runtimeRoot: string;
  readonly runtimeArgs: readonly string[];
}

const KNOWN = ['runtimePath', 'runtimeRoot', 'runtimeArgs'];

export function parseHandlerOptions(
  h: HandlerSpec,
  defaults: { runtimePath: string; runDir: string },
): RuncHandlerOptions {
  const where = `handlers.${h.name}.options`;
  const o = h.options;
  for (const k of Object.keys(o)) {
    if (!KNOWN.includes(k))
      throw new InvalidArgumentError(
        `configure runc handler: ${where}.${k}: unknown option (known: ${KNOWN.join(', ')})`,
      );
  }
  const absPath = (key: string, fallback: string): string => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !path.isAbsolute(v)) {
      throw new InvalidArgumentError(`configure runc handler: ${where}.${key}: must be an absolute path`);
    }
    return path.normalize(v);
  };
  const args = o.runtimeArgs;
  if (args !== undefined && (!Array.isArray(args) || args.some((a) => typeof a !== 'string'))) {
    throw new InvalidArgumentError(`configure runc handler: ${where}.runtimeArgs: must be a list of strings`);
  }
  return {
    name: h.name,
    runtimePath: absPath('runtimePath', defaults.runtimePath),
    runtimeRoot: absPath('runtimeRoot', path.join(defaults.runDir, 'root', h.name)),
    runtimeArgs: (args as string[] | undefined) ?? [],
  };
}

/** Refuses two handlers sharing one runtime root: their containers would be indistinguishable on recovery. */
export function checkDistinctRoots(handlers: readonly RuncHandlerOptions[]): void {
  const seen = new Map<string, string>();
  for (const h of handlers) {
    const other = seen.get(h.runtimeRoot);
    if (other) {
      throw new InvalidArgumentError(
        `configure runc handler: handlers.${h.name}.options.runtimeRoot: ${h.runtimeRoot} is already used by handler ${other}`,
      );
    }
    seen.set(h.runtimeRoot, h.name);
  }
}
