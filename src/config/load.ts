/**
 * Loading and validating configuration: schema defaults ← config file ← environment ← command-line overrides.
 * Unknown keys and bad values are refused with a message naming the key; the result is deep-frozen.
 */
import convict from 'convict';
import { configSchema } from './schema';
import type { Config } from './types';
import { InvalidArgumentError } from '../errors';

/** Dotted-key overrides from flags, e.g. { 'socket.path': '/tmp/x.sock' }. */
export type ConfigOverrides = Record<string, unknown>;

export interface LoadOptions {
  file?: string;
  overrides?: ConfigOverrides;
  /** Environment to read CRIMUX_* variables from; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

/** Load, validate and freeze the configuration. Throws InvalidArgumentError naming the bad key. */
export function loadConfig(opts: LoadOptions = {}): Config {
  // Typed loosely: overrides arrive as dotted strings from flags, checked with has() below.
  const conf = convict<Record<string, unknown>>(configSchema as never, { env: opts.env ?? process.env, args: [] });
  try {
    if (opts.file) conf.loadFile(opts.file);
    for (const [key, value] of Object.entries(opts.overrides ?? {})) {
      if (value === undefined) continue;
      if (!conf.has(key)) throw new Error(`${key}: unknown configuration key`);
      conf.set(key, value);
    }
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new InvalidArgumentError(`load config${opts.file ? ` ${opts.file}` : ''}: ${msg}`, { cause: err });
  }
  const config = conf.getProperties() as unknown as Config;
  checkCrossReferences(config);
  return deepFreeze(config);
}

/** Handler names used by routing must exist; checked once here so routing can trust them. */
function checkCrossReferences(config: Config): void {
  const known = Object.keys(config.handlers);
  const refs: [string, string][] = [['defaultHandler', config.defaultHandler]];
  config.routing.rules.forEach((r, i) => refs.push([`routing.rules[${i}].handler`, r.handler]));
  for (const [key, handler] of refs) {
    if (!known.includes(handler)) {
      throw new InvalidArgumentError(
        `load config: ${key}: unknown handler "${handler}" (configured: ${known.join(', ') || 'none'})`,
      );
    }
  }
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object' && !Object.isFrozen(obj)) {
    Object.freeze(obj);
    for (const v of Object.values(obj as Record<string, unknown>)) deepFreeze(v);
  }
  return obj;
}

/** The schema with docs, for `crimux config docs` and the README. */
export function describeConfig(): string {
  return JSON.stringify(convict(configSchema).getSchema(), null, 2);
}
