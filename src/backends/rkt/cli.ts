/**
 * `crimux rkt …`: rkt's command syntax and JSON over the built-in stage1, for operators who think in rkt terms and
 * for the contract tests (the real-rkt pod manager pointed at this CLI speaks to the built-in one exactly as it
 * would to rkt). Commands: list, status, stop, rm, version, app {sandbox,add,start,stop,rm,status,list,exec},
 * image {fetch,list,rm}. Output and exit codes follow rkt: JSON on one line with --format=json, errors as
 * "<command>: <message>" on stderr with exit 254 (1 for usage errors).
 * NOTE: unlike rkt, `app sandbox` returns once the pod is ready (the pod runs detached), and `app stop` takes a
 * --grace=<seconds> (default 10) because the built-in stage1 has no unit stop timeout to fall back on.
 */
import { promises as fs } from 'node:fs';
import { CrimuxError, NotFoundError, errorMessage } from '../../errors';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../host/oci-defaults';
import { stringifyRktJson } from './api';
import { LOG_DIR_ANNOTATION, LOG_PATH_ANNOTATION } from './rkt-cli/args';
import { bool, flag, flags, pairs, parseArgs, parseCpu, parseVolume, type ParsedArgs } from './cli-args';
import type { AppSpec, PodManager, SandboxOptions } from './pod-manager';

export interface RktCliDeps {
  /** Opens the built-in pod manager on a data dir: --dir when given, else the configured one. */
  openManager(dir: string | undefined): Promise<PodManager>;
  readonly stdout: (chunk: string | Buffer) => void;
  readonly stderr: (chunk: string | Buffer) => void;
  /** stdin for `app exec --interactive`. */
  readonly stdin?: NodeJS.ReadableStream;
}

class UsageError extends Error {}

/** Runs one rkt-syntax command; resolves with its exit code. */
export async function runRktCli(argv: string[], deps: RktCliDeps): Promise<number> {
  let args = parseArgs(argv);
  const [cmd, sub] = args.positionals;
  if (cmd === 'app' && sub === 'exec') args = parseArgs(argv, 3);
  const name = cmd === 'app' || cmd === 'image' ? (sub ?? '') : (cmd ?? '');
  try {
    if (!cmd) throw new UsageError('usage: rkt [--dir=DIR] <list|status|stop|rm|app|image|version> …');
    const pm = await deps.openManager(flag(args, 'dir'));
    const pos = args.positionals.slice(cmd === 'app' || cmd === 'image' ? 2 : 1);
    return await dispatch(pm, cmd, name, pos, args, deps);
  } catch (err) {
    if (err instanceof UsageError) {
      deps.stderr(`${err.message}\n`);
      return 1;
    }
    deps.stderr(`${name || 'rkt'}: ${err instanceof CrimuxError ? err.message : errorMessage(err)}\n`);
    return 254;
  }
}

function json(deps: RktCliDeps, args: ParsedArgs, value: unknown, plain: () => string): void {
  const format = flag(args, 'format');
  if (format === 'json') deps.stdout(`${stringifyRktJson(value)}\n`);
  else if (format === 'json-pretty') deps.stdout(`${stringifyRktJson(value, '\t')}\n`);
  else deps.stdout(plain());
}

function one(pos: string[], what: string): string {
  const v = pos[0];
  if (!v) throw new UsageError(`usage: ${what}`);
  return v;
}

async function dispatch(
  pm: PodManager,
  cmd: string,
  sub: string,
  pos: string[],
  args: ParsedArgs,
  deps: RktCliDeps,
): Promise<number> {
  const app = (): string => {
    const a = flag(args, 'app');
    if (!a) throw new UsageError('--app=APP is required');
    return a;
  };
  switch (cmd === 'app' || cmd === 'image' ? `${cmd} ${sub}` : cmd) {
    case 'version': {
      const info = await pm.info();
      deps.stdout(`rkt Version: ${info.version}\n`);
      return 0;
    }
    case 'list': {
      const pods = await pm.list();
      json(
        deps,
        args,
        pods,
        () =>
          [
            'UUID\tAPP\tIMAGE NAME\tSTATE\tNETWORKS',
            ...pods.map(
              (p) =>
                `${p.name}\t${(p.app_names ?? []).join(',')}\t-\t${p.state}\t${(p.networks ?? []).map((n) => `${n.netName}:ip4=${n.ip}`).join(',')}`,
            ),
          ].join('\n') + '\n',
      );
      return 0;
    }
    case 'status': {
      const pod = await pm.status(one(pos, 'rkt status UUID'));
      json(
        deps,
        args,
        pod,
        () =>
          `state=${pod.state}\ncreated=${pod.created_at ?? ''}\nstarted=${pod.started_at ?? ''}\n` +
          (pod.apps ?? []).map((a) => `app-${a.name}=${a.exit_code ?? ''}\n`).join(''),
      );
      return 0;
    }
    case 'stop':
      return stop(pm, pos, bool(args, 'force'), deps);
    case 'rm':
      for (const uuid of pos) {
        await pm.rm(uuid);
        deps.stdout(`"${uuid}"\n`);
      }
      return 0;
    case 'app sandbox': {
      const uuid = await pm.sandbox(sandboxOptions(args));
      const file = flag(args, 'uuid-file-save');
      if (file) await fs.writeFile(file, uuid);
      deps.stdout(`${uuid}\n`);
      return 0;
    }
    case 'app add':
      await pm.appAdd(one(pos, 'rkt app add UUID IMAGE --name=NAME'), appSpec(pos, args));
      return 0;
    case 'app start':
      await pm.appStart(one(pos, 'rkt app start UUID --app=APP'), app());
      return 0;
    case 'app stop':
      await pm.appStop(one(pos, 'rkt app stop UUID --app=APP'), app(), Number(flag(args, 'grace') ?? '10'));
      return 0;
    case 'app rm':
      await pm.appRm(one(pos, 'rkt app rm UUID --app=APP'), app());
      return 0;
    case 'app status': {
      const a = await pm.appStatus(one(pos, 'rkt app status UUID --app=APP'), app());
      json(
        deps,
        args,
        a,
        () =>
          `name=${a.name}\nstate=${a.state}\nimage_id=${a.image_id}\n${a.exit_code !== undefined ? `exit_code=${a.exit_code}\n` : ''}`,
      );
      return 0;
    }
    case 'app list': {
      const pod = await pm.status(one(pos, 'rkt app list UUID'));
      json(
        deps,
        args,
        pod.apps ?? [],
        () => ['NAME\tSTATE', ...(pod.apps ?? []).map((a) => `${a.name}\t${a.state}`)].join('\n') + '\n',
      );
      return 0;
    }
    case 'app exec':
      return appExec(
        pm,
        one(pos, 'rkt app exec --app=APP UUID CMD…'),
        app(),
        [...pos.slice(1), ...args.execArgs],
        bool(args, 'interactive'),
        deps,
      );
    case 'image fetch': {
      deps.stdout(`${await pm.imageFetch(one(pos, 'rkt image fetch IMAGE'))}\n`);
      return 0;
    }
    case 'image list': {
      const images = await pm.imageList();
      json(
        deps,
        args,
        images,
        () => ['ID\tNAME\tSIZE', ...images.map((i) => `${i.id}\t${i.name}\t${i.size}`)].join('\n') + '\n',
      );
      return 0;
    }
    case 'image rm':
      for (const id of pos) await pm.imageRm(id);
      return 0;
    default:
      throw new UsageError(`unknown command "${[cmd, sub].filter(Boolean).join(' ')}"`);
  }
}

/** rkt stop's output: the UUID when stopped, "already stopped" (exit 0), "no matches found" (exit 254). */
async function stop(pm: PodManager, uuids: string[], force: boolean, deps: RktCliDeps): Promise<number> {
  let errors = 0;
  for (const uuid of uuids) {
    const pod = await pm.status(uuid).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (!pod) {
      deps.stderr(`stop: cannot get pod: no matches found for "${uuid}"\n`);
      errors++;
    } else if (pod.state !== 'running') {
      deps.stdout(`pod "${uuid}" is already stopped\n`);
    } else {
      await pm.stop(uuid, force);
      deps.stdout(`"${uuid}"\n`);
    }
  }
  if (errors > 0) deps.stderr(`stop: failed to stop ${errors} pod(s)\n`);
  return errors > 0 ? 254 : 0;
}

function sandboxOptions(args: ParsedArgs): SandboxOptions {
  const net = flag(args, 'net') ?? 'host';
  const annotations = pairs(flags(args, 'annotation'));
  return {
    userAnnotations: pairs(flags(args, 'user-annotation')),
    userLabels: pairs(flags(args, 'user-label')),
    hostname: flag(args, 'hostname'),
    dns: { servers: flags(args, 'dns'), searches: flags(args, 'dns-search'), options: flags(args, 'dns-opt') },
    // Only the host network or a crimux netns path make sense for the built-in stage1 from the command line.
    network: net.startsWith('/') ? { kind: 'netns', path: net } : { kind: 'host' },
    logDirectory: annotations[LOG_DIR_ANNOTATION],
  };
}

function appSpec(pos: string[], args: ParsedArgs): AppSpec {
  const image = pos[1];
  const name = flag(args, 'name');
  const exe = flag(args, 'exec');
  if (!image || !name) throw new UsageError('usage: rkt app add UUID IMAGE --name=NAME --exec=CMD [-- ARGS ---]');
  if (!exe)
    throw new UsageError(
      '--exec is required: the built-in stage1 does not read the image entrypoint from the command line',
    );
  const num = (k: string, d: number): number => {
    const v = flag(args, k);
    if (v === undefined) return d;
    if (!/^\d+$/.test(v)) throw new UsageError(`--${k}=${v}: numeric IDs only`);
    return Number(v);
  };
  const uid = num('user', 0);
  const gid = num('group', 0);
  const caps = flag(args, 'caps-retain');
  const annotations = pairs(flags(args, 'annotation'));
  return {
    name,
    image,
    exec: [exe, ...args.execArgs],
    workingDir: flag(args, 'working-dir') ?? '/',
    uid,
    gid,
    supplementaryGids: [gid, ...(flag(args, 'supplementary-gids') ?? '').split(',').filter(Boolean).map(Number)],
    environment: flags(args, 'environment'),
    readOnlyRootfs: bool(args, 'readonly-rootfs'),
    mounts: flags(args, 'mnt-volume').map(parseVolume),
    resources: {
      cpuShares: flag(args, 'cpu-shares') ? Number(flag(args, 'cpu-shares')) : undefined,
      ...parseCpu(flag(args, 'cpu')),
      memoryLimitBytes: flag(args, 'memory') ? Number(flag(args, 'memory')) : undefined,
      oomScoreAdj: flag(args, 'oom-score-adj') ? Number(flag(args, 'oom-score-adj')) : undefined,
    },
    capsRetain: caps ? caps.split(',').map((c) => (c.startsWith('CAP_') ? c : `CAP_${c.toUpperCase()}`)) : undefined,
    noNewPrivileges: false,
    pidNamespace: 'pod',
    maskedPaths: DEFAULT_MASKED_PATHS,
    readonlyPaths: DEFAULT_READONLY_PATHS,
    logPath: annotations[LOG_PATH_ANNOTATION] ?? '',
    stdin: false,
    stdinOnce: false,
    tty: false,
    stopSignal: 'SIGTERM',
    userAnnotations: pairs(flags(args, 'user-annotation')),
    userLabels: pairs(flags(args, 'user-label')),
  };
}

async function appExec(
  pm: PodManager,
  uuid: string,
  app: string,
  argv: string[],
  interactive: boolean,
  deps: RktCliDeps,
): Promise<number> {
  if (argv.length === 0) throw new UsageError('usage: rkt app exec --app=APP UUID CMD [ARGS…]');
  const child = await pm.appExec(uuid, app, argv, { tty: false, stdin: interactive });
  if (interactive && deps.stdin && child.stdin) deps.stdin.pipe(child.stdin);
  child.stdout?.on('data', (b: Buffer) => deps.stdout(b));
  child.stderr?.on('data', (b: Buffer) => deps.stderr(b));
  return new Promise((resolve) => {
    child.on('error', () => resolve(254));
    child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + 9 : 254)));
  });
}
