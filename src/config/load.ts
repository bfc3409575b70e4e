/**
 * Loading and validating configuration: schema defaults ← config file ← environment ← command-line overrides.
 * Unknown keys and bad values are refused with a message naming the key; the result is deep-frozen.
 */
import fs from 'node:fs';
import path from 'node:path';
import convict from 'convict';
import { configSchema, wholeValueSchema } from './schema';
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

/** Where the installer puts the config; read by every command when no --config is given and the file exists. */
export const DEFAULT_CONFIG_FILE = '/etc/crimux/crimux.json';

/** The config file a command uses without --config: $CRIMUX_CONFIG, else DEFAULT_CONFIG_FILE if it exists. */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CRIMUX_CONFIG) return env.CRIMUX_CONFIG;
  return fs.existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

/** Load, validate and freeze the configuration. Throws InvalidArgumentError naming the bad key. */
export function loadConfig(opts: LoadOptions = {}): Config {
  // Typed loosely: overrides arrive as dotted strings from flags, checked with has() below.
  let merged: Record<string, unknown>;
  const conf = convict<Record<string, unknown>>(configSchema as never, { env: opts.env ?? process.env, args: [] });
  try {
    const whole = new Map<string, unknown>();
    if (opts.file) {
      const data = readFile(opts.file);
      for (const [k, v] of liftWholeValues(data)) whole.set(k, v);
      conf.load(data);
    }
    for (const [key, value] of Object.entries(opts.overrides ?? {})) {
      if (value === undefined) continue;
      if (key in wholeValueSchema) whole.set(key, value);
      else if (!conf.has(key)) throw new Error(`${key}: unknown configuration key`);
      else conf.set(key, value);
    }
    conf.validate({ allowed: 'strict' });
    for (const [key, spec] of Object.entries(wholeValueSchema)) {
      const value = whole.has(key) ? whole.get(key) : structuredClone(spec.default);
      spec.validate(value);
      whole.set(key, value);
    }
    merged = conf.getProperties() as unknown as Record<string, unknown>;
    for (const [key, value] of whole) setPath(merged, key, value);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new InvalidArgumentError(`load config${opts.file ? ` ${opts.file}` : ''}: ${msg}`, { cause: err });
  }
  const config = merged as unknown as Config;
  derivePerDaemonPaths(config);
  checkCrossReferences(config);
  return deepFreeze(config);
}

function readFile(file: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(stripLineComments(fs.readFileSync(file, 'utf8')));
  } catch (err) {
    throw new Error(`read ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new Error(`${file}: must hold a JSON object`);
  return data as Record<string, unknown>;
}

/**
 * Blanks whole-line `//` comments (the form `crimux config default` writes), keeping line numbers for JSON errors.
 * Only lines whose first non-blank characters are `//`: a `//` inside a string value (a URL) is never touched.
 */
export function stripLineComments(text: string): string {
  return text.replace(/^[ \t]*\/\/.*$/gm, '');
}

/** Removes and returns the whole-value keys of a config object, so convict sees only its own schema. */
function liftWholeValues(data: Record<string, unknown>): Map<string, unknown> {
  const lifted = new Map<string, unknown>();
  for (const key of Object.keys(wholeValueSchema)) {
    const parts = key.split('.');
    const parent = parts.slice(0, -1).reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], data);
    const last = parts[parts.length - 1] as string;
    if (parent && typeof parent === 'object' && last in parent) {
      lifted.set(key, (parent as Record<string, unknown>)[last]);
      delete (parent as Record<string, unknown>)[last];
    }
  }
  return lifted;
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[parts[parts.length - 1] as string] = value;
}

/** Per-daemon paths left empty follow runDir, so a second daemon with its own runDir shares none of them. */
function derivePerDaemonPaths(config: Config): void {
  if (!config.network.netnsDir) config.network.netnsDir = path.join(config.runDir, 'netns');
  if (!config.socket.path) config.socket.path = path.join(config.runDir, 'crimux.sock');
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
  const whole = Object.fromEntries(
    Object.entries(wholeValueSchema).map(([k, v]) => [k, { doc: v.doc, default: v.default }]),
  );
  return JSON.stringify({ schema: convict(configSchema as never).getSchema(), wholeValues: whole }, null, 2);
}
