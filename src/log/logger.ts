/**
 * A small structured logger in containerd's style, logfmt by default or one JSON object per line:
 *   time="2026-11-28T15:00:00.123Z" level=info msg="run pod sandbox" pod=default/web backend=runc
 *   {"time":"2026-11-28T15:00:00.123Z","level":"info","msg":"run pod sandbox","pod":"default/web","backend":"runc"}
 * Level names are logrus's (`warning`, not `warn`), so tools written for containerd and CRI-O logs parse ours.
 * Loggers are injected (never a global), and child() adds fields. Children share their root's level, so SIGHUP can
 * change it for every component at once. Values of keys that look like secrets are redacted so registry
 * credentials can never reach a log line; an Error value is written with its whole `cause` chain.
 */
import { describeError } from '../errors';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'logfmt' | 'json';
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** What each level is called on a log line (logrus names). */
const LEVEL_NAMES: Record<LogLevel, string> = { debug: 'debug', info: 'info', warn: 'warning', error: 'error' };
const SECRET_KEY = /pass(word)?|secret|token|auth|credential|identity/i;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line. */
  child(fields: LogFields): Logger;
  readonly level: LogLevel;
}

/** The root logger: the one place the level can change (SIGHUP), for every child at once. */
export interface RootLogger extends Logger {
  setLevel(level: LogLevel): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stderr by default, like containerd. */
  write?: (line: string) => void;
}

export function isLogLevel(v: string): v is LogLevel {
  return v in LEVELS;
}

/** Create the root logger. */
export function createLogger(options: LoggerOptions = {}): RootLogger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const shared: Shared = { level: options.level ?? 'info', format: options.format ?? 'logfmt', write, silent: false };
  return new StructuredLogger(shared, {});
}

/** A logger that drops everything; for tests and for CLI commands that print their own output. */
export function nullLogger(): Logger {
  return new StructuredLogger({ level: 'error', format: 'logfmt', write: () => undefined, silent: true }, {});
}

/** State every logger of one tree shares. */
interface Shared {
  level: LogLevel;
  readonly format: LogFormat;
  readonly write: (line: string) => void;
  readonly silent: boolean;
}

class StructuredLogger implements RootLogger {
  constructor(
    private readonly shared: Shared,
    private readonly fields: LogFields,
  ) {}

  get level(): LogLevel {
    return this.shared.level;
  }
  setLevel(level: LogLevel): void {
    this.shared.level = level;
  }

  debug(msg: string, fields?: LogFields): void {
    this.emit('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.emit('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.emit('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.emit('error', msg, fields);
  }

  child(fields: LogFields): Logger {
    return new StructuredLogger(this.shared, { ...this.fields, ...fields });
  }

  private emit(level: LogLevel, msg: string, fields?: LogFields): void {
    const s = this.shared;
    if (s.silent || LEVELS[level] < LEVELS[s.level]) return;
    const entries: [string, unknown][] = [];
    for (const [k, v] of Object.entries({ ...this.fields, ...fields })) {
      if (v === undefined) continue;
      entries.push([k, SECRET_KEY.test(k) ? '<redacted>' : v instanceof Error ? describeError(v) : v]);
    }
    const time = new Date().toISOString();
    if (s.format === 'json') {
      s.write(JSON.stringify({ time, level: LEVEL_NAMES[level], msg, ...Object.fromEntries(entries) }, jsonSafe));
      return;
    }
    const parts = [`time="${time}"`, `level=${LEVEL_NAMES[level]}`, `msg=${quote(msg)}`];
    for (const [k, v] of entries) parts.push(`${k}=${formatValue(v)}`);
    s.write(parts.join(' '));
  }
}

function jsonSafe(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[\w./:@-]+$/.test(v) ? v : quote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return quote(JSON.stringify(v, jsonSafe));
}

function quote(s: string): string {
  return JSON.stringify(s);
}
