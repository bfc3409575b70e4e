/**
 * A small structured logger in containerd's logfmt style:
 *   time="2026-11-28T15:00:00.123Z" level=info msg="run pod sandbox" pod=default/web backend=runc
 * Loggers are injected (never a global), and child() adds fields. Values of keys that look like secrets are
 * redacted so registry credentials can never reach a log line.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
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

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; stderr by default, like containerd. */
  write?: (line: string) => void;
}

export function isLogLevel(v: string): v is LogLevel {
  return v in LEVELS;
}

/** Create the root logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  return new LogfmtLogger(options.level ?? 'info', write, {});
}

/** A logger that drops everything; for tests and for CLI commands that print their own output. */
export function nullLogger(): Logger {
  return new LogfmtLogger('error', () => undefined, {}, true);
}

class LogfmtLogger implements Logger {
  constructor(
    readonly level: LogLevel,
    private readonly write: (line: string) => void,
    private readonly fields: LogFields,
    private readonly silent = false,
  ) {}

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
    return new LogfmtLogger(this.level, this.write, { ...this.fields, ...fields }, this.silent);
  }

  private emit(level: LogLevel, msg: string, fields?: LogFields): void {
    if (this.silent || LEVELS[level] < LEVELS[this.level]) return;
    const parts = [`time="${new Date().toISOString()}"`, `level=${level}`, `msg=${quote(msg)}`];
    for (const [k, v] of Object.entries({ ...this.fields, ...fields })) {
      if (v === undefined) continue;
      parts.push(`${k}=${SECRET_KEY.test(k) ? '"<redacted>"' : formatValue(v)}`);
    }
    this.write(parts.join(' '));
  }
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return quote(v.message);
  if (typeof v === 'string') return /^[\w./:@-]+$/.test(v) ? v : quote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return quote(JSON.stringify(v));
}

function quote(s: string): string {
  return JSON.stringify(s);
}
