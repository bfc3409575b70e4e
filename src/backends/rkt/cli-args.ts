/**
 * Argument parsing for the rkt-syntax CLI (cli.ts): rkt's cobra/pflag conventions as far as crimux's callers use
 * them — "--flag=value" or a bare "--flag" (true), repeatable flags, positionals, "--" ending flags, and `app add`'s
 * "-- ARGS ---" exec arguments. Global flags (--dir, --debug, --insecure-options) may appear anywhere, as cobra's
 * persistent flags may (rktlet put them right after the first word).
 */
import type { AppMount } from './pod-manager';
import { InvalidArgumentError } from '../../errors';

export interface ParsedArgs {
  readonly positionals: string[];
  readonly flags: Map<string, string[]>;
  /** app add: the words between "--" and "---". */
  readonly execArgs: string[];
}

/**
 * Parses argv. With stopAfter, everything after that many positionals is positional too (`app exec … UUID CMD
 * ARGS`: the command's own flags are not rkt's, as cobra's SetInterspersed(false) had it).
 */
export function parseArgs(argv: readonly string[], stopAfter = Infinity): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  const execArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (positionals.length >= stopAfter) {
      positionals.push(...argv.slice(i));
      break;
    }
    if (a === '--' && stopAfter !== Infinity) {
      // `app exec --app=A -- UUID CMD…`: as in pflag, "--" only ends the flags; the rest are positionals.
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === '--') {
      const end = argv.indexOf('---', i + 1);
      execArgs.push(...argv.slice(i + 1, end < 0 ? undefined : end));
      positionals.push(...(end < 0 ? [] : argv.slice(end + 1)));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const value = eq < 0 ? 'true' : a.slice(eq + 1);
      flags.set(key, [...(flags.get(key) ?? []), value]);
    } else {
      positionals.push(a);
    }
  }
  return { positionals, flags, execArgs };
}

export function flag(p: ParsedArgs, key: string): string | undefined {
  const v = p.flags.get(key);
  return v?.[v.length - 1];
}

export function flags(p: ParsedArgs, key: string): string[] {
  return p.flags.get(key) ?? [];
}

export function bool(p: ParsedArgs, key: string): boolean {
  const v = flag(p, key);
  return v !== undefined && v !== 'false';
}

/** "k=v" pairs (--user-annotation, --user-label). */
export function pairs(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i > 0) out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

/** --mnt-volume=name=N,kind=host,source=S,target=T,readOnly=B */
export function parseVolume(v: string): AppMount {
  const kv = pairs(v.split(','));
  if (kv.kind && kv.kind !== 'host') throw new InvalidArgumentError(`--mnt-volume ${v}: only kind=host is supported`);
  if (!kv.source || !kv.target) throw new InvalidArgumentError(`--mnt-volume ${v}: source and target are required`);
  return { name: kv.name ?? 'volume', hostPath: kv.source, containerPath: kv.target, readOnly: kv.readOnly === 'true' };
}

/** rkt's --cpu=<millicores>m back to a CFS quota over a 100 ms period. */
export function parseCpu(v: string | undefined): { cpuQuota?: number; cpuPeriod?: number } {
  if (!v) return {};
  const m = /^(\d+)m$/.exec(v);
  const milli = m ? Number(m[1]) : Math.round(Number(v) * 1000);
  if (!Number.isFinite(milli) || milli <= 0) throw new InvalidArgumentError(`--cpu=${v}: want <millicores>m`);
  return { cpuQuota: milli * 100, cpuPeriod: 100_000 };
}
