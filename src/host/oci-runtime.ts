/**
 * A narrow client for an OCI runtime CLI (runc's command-line contract, which crun and runsc share): state, start,
 * kill, delete, update and list against one `--root`. Creation is not here: conmon runs `create` (see conmon.ts).
 *
 * Errors are classified from the CLI's stderr, like rktlet's cli/errors.go, so callers can make stop and remove
 * idempotent: a container the runtime does not know is NotFoundError, "not running" is FailedPreconditionError.
 */
import { FailedPreconditionError, InternalError, NotFoundError } from '../errors';
import type { OciResources } from './oci-spec';
import { runCommand, type RunResult } from './process';

/** `runc state` output. */
export interface OciState {
  readonly id: string;
  readonly pid: number;
  /** creating | created | running | paused | stopped */
  readonly status: string;
  readonly bundle: string;
  readonly created?: string;
}

export interface OciRuntimeOptions {
  /** The runtime binary, e.g. /usr/sbin/runc. */
  readonly path: string;
  /** --root: where the runtime keeps its per-container state; two handlers with two roots never see each other. */
  readonly root: string;
  /** Extra global flags placed before the command (e.g. ["--systemd-cgroup"]). */
  readonly extraArgs?: readonly string[];
  readonly timeoutMs?: number;
}

const NOT_FOUND = /does not exist|not found|no such file or directory/i;
const NOT_RUNNING = /not running|process already finished|container not running|cannot kill a stopped/i;

export class OciRuntime {
  constructor(readonly opts: OciRuntimeOptions) {}

  /** Global args (root and extras) in the form conmon's --runtime-arg and direct calls both use. */
  globalArgs(): string[] {
    return ['--root', this.opts.root, ...(this.opts.extraArgs ?? [])];
  }

  /** The state of `id`, or null when the runtime does not know it. */
  async state(id: string, signal?: AbortSignal): Promise<OciState | null> {
    const r = await this.run(['state', id], signal);
    if (r.code !== 0) {
      if (NOT_FOUND.test(r.stderr)) return null;
      throw this.fail('state', id, r);
    }
    return JSON.parse(r.stdout) as OciState;
  }

  async start(id: string, signal?: AbortSignal): Promise<void> {
    const r = await this.run(['start', id], signal);
    if (r.code !== 0) throw this.fail('start', id, r);
  }

  /** Sends `sig` (name or number) to the container's init, or to every process with `all`. */
  async kill(id: string, sig: string, opts: { all?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    const args = ['kill', ...(opts.all ? ['--all'] : []), id, sig.replace(/^SIG/, '')];
    const r = await this.run(args, opts.signal);
    if (r.code !== 0) throw this.fail('kill', id, r);
  }

  /** Deletes the runtime's record (and, with force, the processes). Unknown IDs succeed: delete is idempotent. */
  async delete(id: string, opts: { force?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    const r = await this.run(['delete', ...(opts.force ? ['--force'] : []), id], opts.signal);
    if (r.code !== 0 && !NOT_FOUND.test(r.stderr)) throw this.fail('delete', id, r);
  }

  /** Applies new cgroup limits to a created or running container (`runc update --resources -`). */
  async update(id: string, resources: OciResources, signal?: AbortSignal): Promise<void> {
    const r = await this.run(['update', '--resources', '-', id], signal, JSON.stringify(resources));
    if (r.code !== 0) throw this.fail('update', id, r);
  }

  /** Every container under this root. */
  async list(signal?: AbortSignal): Promise<OciState[]> {
    const r = await this.run(['list', '--format', 'json'], signal);
    if (r.code !== 0) throw this.fail('list', '', r);
    const parsed = JSON.parse(r.stdout || 'null') as OciState[] | null;
    return parsed ?? [];
  }

  /** argv for `exec` (spawned by the caller, which owns its stdio). */
  /** With consoleSocket: detached (runc hands a terminal to a console socket only when it does not wait itself). */
  execArgv(id: string, opts: { processFile: string; pidFile: string; consoleSocket?: string }): string[] {
    const tty = opts.consoleSocket ? ['-d', '--console-socket', opts.consoleSocket] : [];
    return [...this.globalArgs(), 'exec', ...tty, '--process', opts.processFile, '--pid-file', opts.pidFile, id];
  }

  private run(args: string[], signal?: AbortSignal, input?: string): Promise<RunResult> {
    return runCommand(this.opts.path, [...this.globalArgs(), ...args], {
      signal,
      input,
      timeoutMs: this.opts.timeoutMs ?? 30_000,
    });
  }

  private fail(op: string, id: string, r: RunResult): Error {
    const detail = cleanStderr(r.stderr) || `exit code ${r.code}`;
    const msg = `${op} container ${id}: ${detail}`;
    const context = { runtime: this.opts.path, root: this.opts.root, code: r.code };
    if (NOT_FOUND.test(r.stderr)) return new NotFoundError(msg, { context });
    if (NOT_RUNNING.test(r.stderr)) return new FailedPreconditionError(msg, { context });
    return new InternalError(msg, { context });
  }
}

/** runc logs logfmt lines (`time=… level=error msg="…"`); keep only the messages. */
export function cleanStderr(stderr: string): string {
  const msgs: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m?.[1]) msgs.push(m[1].replace(/\\"/g, '"'));
    else if (line.trim()) msgs.push(line.trim());
  }
  return msgs.join('; ').slice(0, 2000);
}
