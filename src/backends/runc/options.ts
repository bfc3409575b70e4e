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
import { absolutePath, parseHandlerOptions as parseOptions, stringList } from '../../config/handler-options';

export interface RuncHandlerOptions {
  readonly name: string;
  readonly runtimePath: string;
  readonly runtimeRoot: string;
  readonly runtimeArgs: readonly string[];
}

const OPTIONS = { runtimePath: absolutePath, runtimeRoot: absolutePath, runtimeArgs: stringList };

export function parseHandlerOptions(
  h: HandlerSpec,
  defaults: { runtimePath: string; runDir: string },
): RuncHandlerOptions {
  const o = parseOptions(h, OPTIONS, 'configure runc handler');
  return {
    name: h.name,
    runtimePath: o.runtimePath ?? defaults.runtimePath,
    runtimeRoot: o.runtimeRoot ?? path.join(defaults.runDir, 'root', h.name),
    runtimeArgs: o.runtimeArgs ?? [],
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
