/**
 * The pod manager backed by a real `rkt` binary: one rkt process per operation, with rktlet's command lines
 * (args.ts) and error classification (errors.ts).
 *
 * NOTE: rkt is archived (2020) and packaged nowhere, so this class is only ever tested against the fake rkt of
 * test/rkt/fixtures, which replays rkt's api/v1 JSON and error strings. Treat real-rkt mode as unverified.
 * NOTE: `rkt app sandbox` never returns (it becomes the pod's stage1). rktlet ran it under systemd-run; crimux has
 * no systemd to lean on, so it is spawned detached (own session) with its output in <sandboxDir>/<tmp>.log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { DeadlineExceededError, InternalError, InvalidArgumentError, UnimplementedError } from '../../../errors';
import { pollUntil } from '../../../host/wait';
import type { Logger } from '../../../log/logger';
import { parseRktJson, type App, type ImageListEntry, type Pod } from '../api';
import type { AppSpec, ExecOptions, PodManager, PodManagerInfo, SandboxOptions } from '../pod-manager';
import { appAddArgs, appSandboxArgs } from './args';
import { classifyRktError, isAlreadyStopped, isStopNotExist } from './errors';
import type { RktRunner } from './runner';

export interface RktCliOptions {
  readonly stage1Name: string;
  /** Where uuid files and the output of `rkt app sandbox` go. */
  readonly sandboxDir: string;
  readonly readyTimeoutMs: number;
  readonly log: Logger;
}

export class RktCliPodManager implements PodManager {
  constructor(
    private readonly rkt: RktRunner,
    private readonly opts: RktCliOptions,
  ) {}

  async info(signal?: AbortSignal): Promise<PodManagerInfo> {
    const out = await this.rkt.run('version', [], signal);
    const version = /rkt Version:\s*(\S+)/.exec(out.stdout)?.[1] ?? out.lines[0] ?? 'unknown';
    return {
      kind: 'rkt',
      version,
      takesNetnsPath: false,
      appStopHonoursGrace: false,
      // rktlet passed --user/--group/--supplementary-gids/--caps-retain/--readonly-rootfs; rkt had no flags for the rest.
      enforces: ['user', 'group', 'supplementalGroups', 'capabilities', 'readonlyRootfs'],
      tty: false,
    };
  }

  async sandbox(opts: SandboxOptions, signal?: AbortSignal): Promise<string> {
    await fs.mkdir(this.opts.sandboxDir, { recursive: true });
    const tag = randomBytes(6).toString('hex');
    const uuidFile = path.join(this.opts.sandboxDir, `uuid-${tag}`);
    const logFile = path.join(this.opts.sandboxDir, `sandbox-${tag}.log`);
    const [file, ...args] = this.rkt.command('app', appSandboxArgs(opts, uuidFile, this.opts.stage1Name));
    this.opts.log.info('rkt app sandbox', { args: args.join(' ') });
    const out = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(file ?? 'rkt', args, { detached: true, stdio: ['ignore', out, out], env: this.rkt.env() });
    } finally {
      closeSync(out);
    }
    child.unref();
    let exited: number | null = null;
    child.on('exit', (code, sig) => (exited = code ?? (sig ? 128 : 1)));
    child.on('error', () => (exited = 127));
    try {
      const uuid: string | undefined = await pollUntil(
        async () => {
          const text = (await fs.readFile(uuidFile, 'utf8').catch(() => '')).trim();
          if (text) return text;
          if (exited !== null) throw classifyRktError('rkt app sandbox', await readTail(logFile), exited);
          return undefined;
        },
        { timeoutMs: this.opts.readyTimeoutMs, signal, maxIntervalMs: 100 },
      );
      if (!uuid)
        throw new DeadlineExceededError(
          `rkt app sandbox: no pod UUID after ${this.opts.readyTimeoutMs} ms: ${await readTail(logFile)}`,
        );
      const ready = await pollUntil(
        async () => ((await this.status(uuid, signal).catch(() => undefined))?.state === 'running' ? true : undefined),
        { timeoutMs: this.opts.readyTimeoutMs, signal, maxIntervalMs: 100 },
      );
      if (!ready)
        throw new DeadlineExceededError(
          `rkt app sandbox: pod ${uuid} not running after ${this.opts.readyTimeoutMs} ms`,
        );
      // The output of the pod's stage1 stays next to its UUID, for debugging, until rm.
      await fs.rename(logFile, path.join(this.opts.sandboxDir, `${uuid}.log`)).catch(() => undefined);
      return uuid;
    } finally {
      await fs.rm(uuidFile, { force: true });
    }
  }

  async status(uuid: string, signal?: AbortSignal): Promise<Pod> {
    return parseRktJson<Pod>(await this.rkt.json('status', [uuid, '--format=json'], signal));
  }

  async list(signal?: AbortSignal): Promise<Pod[]> {
    const out = await this.rkt.run('list', ['--format=json'], signal);
    const line = out.lines.find((l) => l.startsWith('[') || l === 'null');
    if (line === undefined) throw new InternalError(`rkt list: unexpected output: ${out.stdout}`);
    return parseRktJson<Pod[] | null>(line) ?? [];
  }

  async stop(uuid: string, force: boolean, signal?: AbortSignal): Promise<void> {
    const out = await this.rkt.run('stop', [`--force=${force}`, uuid], signal, true);
    const text = `${out.stdout}\n${out.stderr}`;
    // rktlet: ignoring stop error for idempotency.
    if (out.code === 0 || isAlreadyStopped(text) || isStopNotExist(text)) return;
    throw classifyRktError(`rkt stop --force=${force} ${uuid}`, text, out.code);
  }

  async rm(uuid: string, signal?: AbortSignal): Promise<void> {
    await this.rkt.run('rm', [uuid], signal);
    await fs.rm(path.join(this.opts.sandboxDir, `${uuid}.log`), { force: true });
  }

  async appAdd(uuid: string, spec: AppSpec, signal?: AbortSignal): Promise<void> {
    await this.rkt.run('app', appAddArgs(uuid, spec), signal);
  }

  async appStart(uuid: string, app: string, signal?: AbortSignal): Promise<void> {
    await this.rkt.run('app', ['start', uuid, `--app=${app}`], signal);
  }

  /** rkt app stop has no timeout: the grace period is rkt's own (the app unit's stop timeout). */
  async appStop(uuid: string, app: string, _graceSeconds: number, signal?: AbortSignal): Promise<void> {
    const out = await this.rkt.run('app', ['stop', uuid, `--app=${app}`], signal, true);
    const text = `${out.stdout}\n${out.stderr}`;
    // stage1's app_stop maps systemctl's exit status 5 to "app is not running": stopping a stopped app succeeds.
    if (out.code === 0 || /is not running/.test(text)) return;
    throw classifyRktError(`rkt app stop ${uuid} --app=${app}`, text, out.code);
  }

  /** CRI RemoveContainer kills a running container first; rkt's stage1 refuses to remove an active app, so stop it. */
  async appRm(uuid: string, app: string, signal?: AbortSignal): Promise<void> {
    await this.appStop(uuid, app, 0, signal);
    await this.rkt.run('app', ['rm', uuid, `--app=${app}`], signal);
  }

  async appStatus(uuid: string, app: string, signal?: AbortSignal): Promise<App> {
    return parseRktJson<App>(await this.rkt.json('app', ['status', uuid, `--app=${app}`, '--format=json'], signal));
  }

  async appExec(uuid: string, app: string, argv: readonly string[], opts: ExecOptions): Promise<ChildProcess> {
    if (opts.tty) throw new UnimplementedError('exec with a TTY: not supported with a real rkt');
    // "--" before the UUID: the command and its arguments are never rkt's flags, whatever they begin with.
    const [file, ...args] = this.rkt.command('app', ['exec', `--app=${app}`, '--', uuid, ...argv]);
    return spawn(file ?? 'rkt', args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: this.rkt.env() });
  }

  async imageFetch(name: string, signal?: AbortSignal): Promise<string> {
    const ref = name.includes('://') ? name : `docker://${name}`;
    if (name.startsWith('-'))
      throw new InvalidArgumentError(`rkt image fetch: image "${name}" must not begin with "-"`);
    const out = await this.rkt.run('image', ['fetch', '--pull-policy=update', '--full=true', ref], signal);
    // rktlet: the last line of the output is the image ID (sha512-…).
    const id = out.lines[out.lines.length - 1]?.trim();
    if (!id) throw new InternalError(`rkt image fetch ${ref}: no image ID in output`);
    return id;
  }

  async imageList(signal?: AbortSignal): Promise<ImageListEntry[]> {
    const out = await this.rkt.run('image', ['list', '--full', '--format=json', '--sort=importtime'], signal);
    const line = out.lines.find((l) => l.startsWith('[') || l === 'null');
    return line === undefined ? [] : (parseRktJson<ImageListEntry[] | null>(line) ?? []);
  }

  async imageRm(id: string, signal?: AbortSignal): Promise<void> {
    if (id.startsWith('-')) throw new InvalidArgumentError(`rkt image rm: image "${id}" must not begin with "-"`);
    await this.rkt.run('image', ['rm', id], signal);
  }
}

async function readTail(file: string): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-5).join(' | ') || '(no output)';
}
