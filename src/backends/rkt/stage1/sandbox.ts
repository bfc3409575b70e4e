/**
 * `rkt app sandbox` for the built-in stage1: an empty, mutable pod whose root process is systemd-nspawn.
 *
 * Steps (each with its undo, run in reverse on failure): build the pod under pods/prepare, rename it to pods/run
 * (the rename is the commit point rkt also used), make its root a shared mount, create its cgroups, then start
 *   sh (joins the pod cgroups) → exec flock --no-fork -x <pod dir> → exec systemd-nspawn … --as-pid2 /init
 * detached, so nspawn holds the pod lock for its lifetime (liveness, see liveness.ts) and survives crimux. Ready is
 * /init's rkt/supervisor-status link; a pod that does not get there in time fails with its stage1.log tail
 * (rktlet only ever said "sandbox timeout", rktlet#108).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, promises as fs } from 'node:fs';
import { DeadlineExceededError, InternalError, InvalidArgumentError } from '../../../errors';
import { runCommand } from '../../../host/process';
import { isHostname } from '../../../host/pod-etc';
import { UndoStack } from '../../../util/undo';
import { pollUntil } from '../../../host/wait';
import type { SandboxOptions } from '../pod-manager';
import { createCgroup, killCgroup, podCgroupSet, removeCgroup } from './cgroups';
import { POD_HELPER, type Stage1Context } from './context';
import { readOptional, writeAtomic } from './files';
import type { PodPaths } from './layout';
import { childrenOf } from '../../../host/proc-tree';
import { processStartTime } from './liveness';
import { FLAVOR_ANNOTATION, MUTABLE_ANNOTATION, writeManifest, type PodManifest } from './manifest';
import { makeSharedRoot, unmountAll } from './mounts';
import { JOIN_AND_EXEC } from './scripts';
import { buildSkeleton } from './skeleton';

export async function createSandbox(ctx: Stage1Context, opts: SandboxOptions, signal?: AbortSignal): Promise<string> {
  const uuid = randomUUID();
  const log = ctx.log.child({ pod: uuid });
  const hostname = opts.hostname || `rkt-${uuid.slice(0, 8)}`;
  if (!isHostname(hostname)) {
    throw new InvalidArgumentError(`create pod: hostname "${hostname}" is not a valid host name`);
  }
  if (opts.network.kind === 'rkt') {
    throw new InvalidArgumentError(
      'create pod: the built-in stage1 takes a network namespace path, not an rkt network',
    );
  }
  const ips = opts.network.kind === 'netns' ? [...(opts.network.ips ?? [])] : [];
  const prep = ctx.layout.pod(uuid, 'prepare');
  const run = ctx.layout.pod(uuid, 'run');
  const cgroup = podCgroupSet(ctx.hierarchies, opts.cgroupParent || ctx.cgroupParent, uuid);
  const undo = new UndoStack(log);
  log.info('create pod', { network: opts.network.kind, cgroup: Object.values(cgroup)[0] });
  try {
    await fs.mkdir(ctx.layout.podsDir('run'), { recursive: true });
    await fs.mkdir(prep.appsinfo, { recursive: true });
    undo.push('prepared pod dir', () => fs.rm(prep.dir, { recursive: true, force: true }));
    const binds = await buildSkeleton(prep, opts, hostname, ips);
    const manifest: PodManifest = {
      acKind: 'PodManifest',
      acVersion: '0.8.11',
      apps: [],
      annotations: [
        { name: MUTABLE_ANNOTATION, value: 'true' },
        { name: FLAVOR_ANNOTATION, value: 'min' },
      ],
      userAnnotations: { ...opts.userAnnotations },
      userLabels: { ...opts.userLabels },
      crimux: { hostname, network: opts.network, ips, logDirectory: opts.logDirectory ?? '', cgroup },
    };
    await writeManifest(prep.manifest, manifest);
    await fs.writeFile(prep.created, '');
    await fs.writeFile(prep.subcgroup, `${JSON.stringify(cgroup)}\n`);
    await fs.rename(prep.dir, run.dir);
    undo.push('pod dir', () => fs.rm(run.dir, { recursive: true, force: true }));
    undo.push('mounts', async () => {
      await unmountAll(run.dir);
    });
    await makeSharedRoot(run.rootfs, signal);
    const procs = await createCgroup(ctx.hierarchies, cgroup);
    undo.push('cgroup', async () => {
      await killCgroup(cgroup);
      await pollUntil(async () => ((await removeCgroup(cgroup)) ? true : undefined), { timeoutMs: 5000 });
    });
    await startNspawn(ctx, run, hostname, binds, procs, opts, log, signal);
    log.info('created pod', { hostname });
    return uuid;
  } catch (err) {
    log.warn('create pod failed, undoing', { error: err });
    await undo.run();
    throw err;
  }
}

async function startNspawn(
  ctx: Stage1Context,
  p: PodPaths,
  hostname: string,
  binds: readonly string[],
  procs: readonly string[],
  opts: SandboxOptions,
  log: Stage1Context['log'],
  signal?: AbortSignal,
): Promise<void> {
  const args = [
    '--register=no',
    '--keep-unit',
    '-q',
    '-D',
    p.rootfs,
    `--machine=rkt-${p.dir.slice(-36)}`,
    `--hostname=${hostname}`,
    '--bind-ro=/usr',
    `--bind-ro=${ctx.helperPath}:${POD_HELPER}`,
    ...binds.map((b) => `--bind-ro=${b}`),
    '--resolv-conf=off',
    '--timezone=off',
    '--link-journal=no',
    '--console=pipe',
    // nspawn turns its own SIGTERM into this signal for the pod's PID 1: the min flavor has nothing to shut down.
    '--kill-signal=SIGKILL',
    ...(opts.network.kind === 'netns' ? [`--network-namespace-path=${opts.network.path}`] : []),
    '--as-pid2',
    '/init',
  ];
  const out = openSync(p.stage1Log, 'a');
  let exitCode: number | null = null;
  let pid: number | undefined;
  try {
    const child = spawn(
      'sh',
      [
        '-c',
        JOIN_AND_EXEC,
        'crimux-rkt-pod',
        String(procs.length),
        ...procs,
        'flock',
        '--no-fork',
        '-x',
        p.dir,
        ctx.nspawnPath,
        ...args,
      ],
      { detached: true, stdio: ['ignore', out, out], cwd: '/', env: process.env },
    );
    pid = child.pid;
    child.on('exit', (code, sig) => (exitCode = code ?? (sig ? 128 : 1)));
    child.on('error', () => (exitCode = 127));
    child.unref();
  } finally {
    closeSync(out);
  }
  if (pid === undefined) throw new InternalError(`start pod: could not spawn ${ctx.nspawnPath}`);
  log.debug('spawned stage1', { pid, args: args.join(' ') });
  const ready = await pollUntil(
    async () => {
      if (
        await fs.lstat(p.supervisorStatus).then(
          () => true,
          () => false,
        )
      )
        return true;
      if (exitCode !== null) throw new InternalError(`start pod: stage1 exited with ${exitCode}: ${await logTail(p)}`);
      return undefined;
    },
    { timeoutMs: ctx.readyTimeoutMs, signal, maxIntervalMs: 25 },
  );
  if (!ready) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    throw new DeadlineExceededError(`start pod: stage1 not ready after ${ctx.readyTimeoutMs} ms: ${await logTail(p)}`);
  }
  // nspawn's only child is the container's PID 1 (the stub init under --as-pid2): apps enter its namespaces.
  const pid1 = await pollUntil(async () => (await childrenOf(pid as number))[0], { timeoutMs: 5000, signal });
  if (pid1 === undefined) throw new InternalError(`start pod: no container process under nspawn ${pid}`);
  await writeAtomic(p.ppid, `${pid}\n${(await processStartTime(pid)) ?? ''}\n`);
  await writeAtomic(p.pid, `${pid1}\n${(await processStartTime(pid1)) ?? ''}\n`);
  await setIpcSysctls(pid1, opts.ipcSysctls ?? {}, signal);
}

/**
 * IPC sysctls belong to the pod's IPC namespace, which nspawn created: they are written from the host (whose /proc
 * is writable, unlike the pod's) by a process that joined only that namespace, before any app can be added.
 */
async function setIpcSysctls(pid1: number, sysctls: Readonly<Record<string, string>>, signal?: AbortSignal) {
  for (const [key, value] of Object.entries(sysctls)) {
    const res = await runCommand('nsenter', ['-t', String(pid1), '-i', '--', 'sysctl', '-w', `${key}=${value}`], {
      timeoutMs: 10_000,
      signal,
    });
    if (res.code !== 0) throw new InternalError(`start pod: set sysctl ${key}: ${res.stderr.trim()}`);
  }
}

/** The last lines of the pod's stage1.log, for error messages. */
export async function logTail(p: PodPaths): Promise<string> {
  const text = ((await readOptional(p.stage1Log)) ?? '').trim();
  return text ? text.split('\n').slice(-6).join(' | ') : '(stage1.log is empty)';
}
