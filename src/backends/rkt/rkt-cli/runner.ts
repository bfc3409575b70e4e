/**
 * Runs one rkt command, the way rktlet's cli.RunCommand did: `rkt <subcmd> <global flags> <args…>` with the app
 * and attach experiments switched on (`rkt app` is hidden without RKT_EXPERIMENT_APP), output split on newlines.
 *
 * Unlike rktlet: every run is bounded by a timeout and the caller's AbortSignal, and JSON is parsed from stdout
 * alone (rktlet parsed CombinedOutput's first line, so any warning on stderr broke it); stderr still feeds the
 * error classification.
 */
import { runCommand } from '../../../host/process';
import { classifyRktError } from './errors';

export interface RktRunnerOptions {
  /** The rkt binary. */
  readonly path: string;
  /** rkt --dir. */
  readonly dataDir: string;
  readonly timeoutMs: number;
}

export interface RktOutput {
  /** stdout, trimmed and split on newlines (rktlet's []string result). */
  readonly lines: string[];
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export class RktRunner {
  constructor(private readonly opts: RktRunnerOptions) {}

  /**
   * rktlet's global flags, in the order its CLIConfig struct produced them: --debug=false, --dir, then
   * --insecure-options=image,ondisk (images are fetched over plain HTTP from local registries and not re-verified).
   */
  globalFlags(): string[] {
    return ['--debug=false', `--dir=${this.opts.dataDir}`, '--insecure-options=image,ondisk'];
  }

  /** The full command line rktlet's Command() built: rkt SUBCMD GLOBALFLAGS ARGS. */
  command(subcmd: string, args: readonly string[]): string[] {
    return [this.opts.path, subcmd, ...this.globalFlags(), ...args];
  }

  /** The environment of every rkt process. */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, RKT_EXPERIMENT_APP: 'true', RKT_EXPERIMENT_ATTACH: 'true' };
  }

  /** Runs the command; returns its output, or the raw result when `allowFailure` and the exit code is not 0. */
  async run(subcmd: string, args: readonly string[], signal?: AbortSignal, allowFailure = false): Promise<RktOutput> {
    const [file, ...argv] = this.command(subcmd, args);
    const res = await runCommand(file ?? this.opts.path, argv, {
      signal,
      timeoutMs: this.opts.timeoutMs,
      env: this.env(),
    });
    const out: RktOutput = { lines: splitLines(res.stdout), stdout: res.stdout, stderr: res.stderr, code: res.code };
    if (res.code !== 0 && !allowFailure) {
      throw classifyRktError(`rkt ${subcmd} ${args.join(' ')}`, `${res.stdout}\n${res.stderr}`, res.code);
    }
    return out;
  }

  /** Runs a command whose only stdout line is JSON (status, list, app status, image list). */
  async json(subcmd: string, args: readonly string[], signal?: AbortSignal): Promise<string> {
    const out = await this.run(subcmd, args, signal);
    const line = out.lines.find((l) => l.startsWith('{') || l.startsWith('['));
    if (line === undefined) {
      throw classifyRktError(`rkt ${subcmd} ${args.join(' ')}`, `unexpected output: ${out.stdout}`, out.code);
    }
    return line;
  }
}

function splitLines(s: string): string[] {
  const t = s.trim();
  return t === '' ? [] : t.split('\n');
}
