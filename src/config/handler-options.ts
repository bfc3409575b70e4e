/**
 * `handlers.<name>.options` read from a table (issue #22): each backend states which keys it takes and what each
 * must be, instead of checking unknown keys and value types by hand. Every refusal is an InvalidArgumentError
 * naming the key to fix, `<context>: handlers.<name>.options.<key>: <rule>`, raised when the backend is built, so
 * a bad config stops the daemon at start-up rather than at the first pod.
 */
import path from 'node:path';
import { InvalidArgumentError } from '../errors';

/** What one option's value must be. */
export interface OptionKind<T> {
  /** The rule as the message states it: "must be a positive integer". */
  readonly rule: string;
  /** The value to use, or undefined when `v` (never undefined itself) breaks the rule. */
  readonly read: (v: unknown) => T | undefined;
}

export const positiveInt: OptionKind<number> = {
  rule: 'must be a positive integer',
  read: (v) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined),
};

export const bool: OptionKind<boolean> = {
  rule: 'must be a boolean',
  read: (v) => (typeof v === 'boolean' ? v : undefined),
};

export const stringList: OptionKind<readonly string[]> = {
  rule: 'must be a list of strings',
  read: (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined),
};

/** Normalised, so that two spellings of one directory compare equal (runc's distinct-roots check). */
export const absolutePath: OptionKind<string> = {
  rule: 'must be an absolute path',
  read: (v) => (typeof v === 'string' && path.isAbsolute(v) ? path.normalize(v) : undefined),
};

export function matching(pattern: RegExp, rule: string): OptionKind<string> {
  return { rule, read: (v) => (typeof v === 'string' && pattern.test(v) ? v : undefined) };
}

export type OptionTable = Readonly<Record<string, OptionKind<unknown>>>;

/** Every key of the table, undefined where the config leaves it out (the backend knows its default). */
export type ParsedOptions<T extends OptionTable> = {
  readonly [K in keyof T]: (T[K] extends OptionKind<infer V> ? V : never) | undefined;
};

/** Checks one handler's options against `table`; `context` opens every message ("configure runc handler"). */
export function parseHandlerOptions<T extends OptionTable>(
  handler: { readonly name: string; readonly options: Readonly<Record<string, unknown>> },
  table: T,
  context: string,
): ParsedOptions<T> {
  const where = (key: string): string => `${context}: handlers.${handler.name}.options.${key}`;
  const known = Object.keys(table);
  for (const key of Object.keys(handler.options)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(`${where(key)}: unknown option (known: ${known.join(', ')})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(table)) {
    const v = handler.options[key];
    const value = v === undefined ? undefined : kind.read(v);
    if (v !== undefined && value === undefined) throw new InvalidArgumentError(`${where(key)}: ${kind.rule}`);
    out[key] = value;
  }
  return out as ParsedOptions<T>;
}
