/**
 * The crash harness's random mode (issue #24), shared by the small seeded test (crash-random.test.ts) and the full
 * bench run (bench/crash.ts). Not a test file itself.
 *
 * One crimux daemon per backend run. `clients` kubelet-like loops do full pod/container cycles on the backend's
 * handler (RunPodSandbox → CreateContainer → StartContainer → StopPodSandbox → RemovePodSandbox; some containers
 * are created and never started, some pods are stopped milliseconds after their container started), while a killer
 * sends SIGKILL to the daemon at seeded random moments and starts it again. A client whose call died with the
 * daemon relists after the restart, as the kubelet does, and either stops and removes its pod at once or leaves it
 * to the final cleanup. After the last restart: one kubelet-style cleanup pass (StopPodSandbox + RemovePodSandbox
 * of every listed pod, 20 s deadline per call, no retry), then an audit of everything on the host that belongs to
 * this daemon: processes, mounts, netns, IP allocations, cgroups, runtime state, snapshots and records, attributed
 * by the daemon's own directories and by the IDs (and pod UIDs) the run handed out.
 *
 * NOTE reproducibility: the seed fixes the kill schedule and every client's choices; what a kill interrupts still
 * depends on timing (that is the point of killing at random), so two runs with one seed hit similar, not identical,
 * moments.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnHelperPids, startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX } from '../fixtures/images';
import { SqliteOwnershipStore } from '../../src/state/sqlite-store';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';
import { cgroupLeftovers, removeParent } from '../rkt/helpers/stage1';
import { unavailable } from '../conformance/handlers';
import * as re from '../runc/env';
import * as vmh from '../vm/helpers';

const run = promisify(execFile);

export type CrashBackend = 'runc' | 'docker' | 'rkt' | 'vm';

export interface CrashRandomOptions {
  readonly backend: CrashBackend;
  readonly kills: number;
  readonly seed: number;
  /** Concurrent kubelet-like clients. */
  readonly clients: number;
  /** CNI slot (runc test naming: bridge crimuxr<slot>, 10.89.<50+slot>.0/24). */
  readonly slot: number;
  /** Gap between a restart being ready and the next kill, drawn uniformly. */
  readonly gapMs: readonly [number, number];
  readonly progress?: (line: string) => void;
}

export interface CrashRandomFigures {
  backend: CrashBackend;
  seed: number;
  clients: number;
  kills: number;
  /** Daemon starts (the first one plus one per kill). */
  starts: number;
  cycles: {
    completed: number;
    /** Cycles begun after the last restart that ran to the end: the daemon serves again after its crashes. */
    completedAfterLastKill: number;
    interrupted: number;
    containersNeverStarted: number;
    stoppedRightAfterStart: number;
  };
  /** Repairs the restarts made, by kind (reconcile kinds plus the runc backend's own recovery). */
  repairs: Record<string, number>;
  /** Calls that failed while no kill happened during their cycle: findings, not noise (first 20, and the count). */
  unexpectedErrors: string[];
  unexpectedErrorCount: number;
  /** The daemon's own "crimux crashed" log lines: exits nobody asked for. */
  selfCrashes: number;
  firstPass: { pods: number; failedCalls: string[]; leftoverPods: number; leftoverContainers: number; ms: number };
  /** What the first audit right after the pass still found (background removal in flight), first 20. */
  firstAudit: string[];
  finalLeaks: string[];
  leaksByKind: Record<string, number>;
  /** From the start of the cleanup pass until the audit found nothing (or gave up). */
  timeToCleanMs: number;
  slowestStopPodSandboxMs: number;
  /** StopPodSandbox calls (any phase) slower than the bound (grace 0 here, so a few seconds). */
  slowStops: string[];
  restartMs: { median: number; max: number };
}

/** StopPodSandbox kills containers with grace 0: anything beyond this is a stall. */
export const STOP_BOUND_MS = 5_000;

/** mulberry32: small, fast, good enough to spread kills and choices; one stream per purpose. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function backendUnavailable(backend: CrashBackend): string | undefined {
  return unavailable(backend);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A bound that must not keep the process (and node:test) alive once the race is won. */
const bound = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}

export async function crashRandom(o: CrashRandomOptions): Promise<CrashRandomFigures> {
  const say = o.progress ?? (() => undefined);
  await ensureTestRegistry();
  if (o.backend === 'docker') await ensureDockerd();
  if (o.backend === 'vm') vmh.ensureGuest();
  const dir = await re.tempDir(`ccr-${o.backend}-`);
  const runcParent = `/crimux-crashrnd-${process.pid}-${o.slot}`;
  const rktParent = `crimux-rkt-crashrnd-${process.pid}-${o.slot}`;
  const handler = o.backend;
  const handlers: Record<string, unknown> = {
    runc: { backend: 'runc', options: { runtimeRoot: path.join(dir, 'runc-root') } },
  };
  if (handler === 'docker') handlers.docker = { backend: 'docker', options: { dockerRuntime: 'runc' } };
  if (handler === 'rkt') handlers.rkt = { backend: 'rkt', options: {} };
  if (handler === 'vm') handlers.vm = { backend: 'vm', options: {} };
  // Every pod's UID carries this tag: Docker names and the audit attribute objects by it.
  const tag = `cr${process.pid}s${o.seed}`;
  const fig: CrashRandomFigures = {
    backend: o.backend,
    seed: o.seed,
    clients: o.clients,
    kills: 0,
    starts: 0,
    cycles: {
      completed: 0,
      completedAfterLastKill: 0,
      interrupted: 0,
      containersNeverStarted: 0,
      stoppedRightAfterStart: 0,
    },
    repairs: {},
    unexpectedErrors: [],
    unexpectedErrorCount: 0,
    selfCrashes: 0,
    firstPass: { pods: 0, failedCalls: [], leftoverPods: 0, leftoverContainers: 0, ms: 0 },
    firstAudit: [],
    finalLeaks: [],
    leaksByKind: {},
    timeToCleanMs: 0,
    slowestStopPodSandboxMs: 0,
    slowStops: [],
    restartMs: { median: 0, max: 0 },
  };
  const ids = new Set<string>();
  let d: DaemonHandle | undefined;
  try {
    fs.mkdirSync(path.join(dir, 'd'));
    d = await startDaemon({
      dir: path.join(dir, 'd'),
      config: {
        logLevel: 'info',
        defaultHandler: 'runc',
        handlers,
        backends: {
          runc: { enabled: true, cgroupParent: runcParent },
          docker: { enabled: handler === 'docker' },
          rkt: { enabled: handler === 'rkt', stage1: { cgroupParent: rktParent } },
          vm: { enabled: handler === 'vm', guestDir: vmh.GUEST_DIR },
        },
        // netnsDir and the socket are left to follow runDir (#24): nothing of this daemon outside its dirs.
        network: { confDir: await re.writeCniConf(dir, o.slot), netnsDir: '' },
      },
    });
    const daemon = d;
    fig.starts++;
    scanRepairs(daemon.logs(), fig.repairs);
    await daemon.img(
      'PullImage',
      { image: { image: BUSYBOX.ref, runtime_handler: handler === 'runc' ? '' : handler } },
      { deadlineMs: 300_000 },
    );

    // --- load and kills ---
    let epoch = 0; // bumped at every kill
    let up: Promise<void> = Promise.resolve();
    let stopping = false;
    const stopDurations: { ms: number; what: string }[] = [];
    const callMs = handler === 'vm' ? 180_000 : 60_000;
    const timedStop = async (pod: string, deadlineMs: number, phase: string): Promise<void> => {
      const t0 = Date.now();
      const record = (): number => stopDurations.push({ ms: Date.now() - t0, what: `${phase} ${pod.slice(0, 12)}` });
      // A call cut short by a kill is no stall; one that failed in the cleanup pass (nothing killed it) is.
      await daemon.rt('StopPodSandbox', { pod_sandbox_id: pod }, { deadlineMs }).then(record, (err: unknown) => {
        if (phase === 'cleanup') record();
        throw err;
      });
    };

    // Clients that completed a cycle begun after the last restart (the load's tail waits for every one of them).
    const servedAfterKills = new Set<number>();
    const client = async (n: number): Promise<void> => {
      const r = rng(o.seed * 1000 + n + 1);
      for (let i = 0; !stopping; i++) {
        const uid = `${tag}-c${n}-${i}`;
        const name = `p${n}-${i}`;
        const config = {
          metadata: { name, namespace: 'crash-random', uid, attempt: 0 },
          hostname: name,
          log_directory: path.join(dir, 'pods', uid),
          linux: {},
        };
        const variant = r();
        let pod = '';
        let step = 'run';
        // A restart in progress (the previous cycle's failure may predate the current kill) is waited for first.
        await up;
        const startEpoch = epoch;
        try {
          pod = (await daemon.rt('RunPodSandbox', { config, runtime_handler: handler }, { deadlineMs: callMs }))
            .pod_sandbox_id;
          ids.add(pod);
          if (variant >= 0.1) {
            step = 'create';
            const cfg = {
              metadata: { name: 'app' },
              image: { image: BUSYBOX.ref },
              command: ['sh', '-c', 'sleep 3600'],
              log_path: 'app/0.log',
            };
            const ctr = (
              await daemon.rt(
                'CreateContainer',
                { pod_sandbox_id: pod, config: cfg, sandbox_config: config },
                { deadlineMs: callMs },
              )
            ).container_id;
            ids.add(ctr);
            if (variant < 0.3) {
              fig.cycles.containersNeverStarted++;
              await sleep(r() * 300);
            } else {
              step = 'start';
              await daemon.rt('StartContainer', { container_id: ctr }, { deadlineMs: callMs });
              if (variant < 0.6) {
                fig.cycles.stoppedRightAfterStart++;
                await sleep(r() * 20);
              } else {
                await sleep(100 + r() * 1400);
              }
            }
          }
          step = 'stop';
          await timedStop(pod, callMs, 'load');
          step = 'remove';
          await daemon.rt('RemovePodSandbox', { pod_sandbox_id: pod }, { deadlineMs: callMs });
          fig.cycles.completed++;
          if (startEpoch === o.kills) {
            fig.cycles.completedAfterLastKill++;
            servedAfterKills.add(n);
          }
        } catch (err) {
          // Only a kill during the cycle excuses a failure (UNAVAILABLE without a kill is a crash of its own).
          const killed = epoch !== startEpoch;
          if (!killed && !stopping) {
            fig.unexpectedErrorCount++;
            if (fig.unexpectedErrors.length < 20)
              fig.unexpectedErrors.push(`${step} ${pod.slice(0, 12)}: ${(err as Error).message.slice(0, 300)}`);
            await sleep(250); // a daemon that died on its own: do not spin until the next restart
          }
          fig.cycles.interrupted++;
          // The kubelet waits for the runtime to come back, relists, then tears down the pod it was working on
          // (or the garbage collector does it later: the final cleanup pass stands in for that).
          await up;
          for (const p of (await daemon.rt('ListPodSandbox', {}).catch(() => ({ items: [] }))).items ?? [])
            if (p.id) ids.add(p.id);
          if (pod && r() < 0.5 && !stopping) {
            try {
              await timedStop(pod, 20_000, 'retry');
              await daemon.rt('RemovePodSandbox', { pod_sandbox_id: pod }, { deadlineMs: 20_000 });
            } catch {
              // killed again, or left for the cleanup pass
            }
          }
        }
      }
    };

    const restartTimes: number[] = [];
    const killer = async (): Promise<void> => {
      const r = rng(o.seed);
      for (let k = 0; k < o.kills; k++) {
        await sleep(o.gapMs[0] + r() * (o.gapMs[1] - o.gapMs[0]));
        let release!: () => void;
        up = new Promise((resolve) => (release = resolve));
        epoch++;
        const before = daemon.logs().length;
        await daemon.kill9();
        fig.kills++;
        const t0 = Date.now();
        await daemon.restart({});
        restartTimes.push(Date.now() - t0);
        fig.starts++;
        scanRepairs(daemon.logs().slice(before), fig.repairs);
        release();
        say(`${o.backend}: kill ${k + 1}/${o.kills} (repairs so far ${JSON.stringify(fig.repairs)})`);
      }
    };
    const loops = Array.from({ length: o.clients }, (_, n) => client(n));
    await killer();
    // The load goes on after the last restart until every client has run one whole cycle on the restarted daemon
    // (bounded): the kill gaps are short, and on a slow machine a docker cycle may not fit between two kills, so
    // this tail is what proves the daemon serves again after its crashes.
    const tailUntil = Date.now() + 2 * callMs;
    while (servedAfterKills.size < o.clients && Date.now() < tailUntil) await sleep(100);
    stopping = true;
    // A client finishes its cycle (bounded by the call deadlines) and stops.
    await Promise.race([Promise.allSettled(loops), bound(4 * callMs)]);
    fig.selfCrashes = daemon.logs().split('msg="crimux crashed').length - 1;
    fig.restartMs = { median: median(restartTimes), max: Math.max(0, ...restartTimes) };

    // --- one kubelet-style cleanup pass ---
    const pass0 = Date.now();
    await up;
    const pods = (await daemon.rt('ListPodSandbox', {}, { deadlineMs: 20_000 })).items ?? [];
    for (const p of (await daemon.rt('ListContainers', {}, { deadlineMs: 20_000 })).containers ?? [])
      if (p.id) ids.add(p.id);
    fig.firstPass.pods = pods.length;
    for (const p of pods) {
      const id = p.id ?? '';
      ids.add(id);
      await timedStop(id, 20_000, 'cleanup').catch((err: Error) =>
        fig.firstPass.failedCalls.push(`stop ${id.slice(0, 12)}: ${err.message.slice(0, 200)}`),
      );
      await daemon
        .rt('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 20_000 })
        .catch((err: Error) =>
          fig.firstPass.failedCalls.push(`remove ${id.slice(0, 12)}: ${err.message.slice(0, 200)}`),
        );
    }
    fig.firstPass.ms = Date.now() - pass0;
    fig.firstPass.leftoverPods = ((await daemon.rt('ListPodSandbox', {})).items ?? []).length;
    fig.firstPass.leftoverContainers = ((await daemon.rt('ListContainers', {})).containers ?? []).length;

    // --- audit (background removal gets a bounded chance to finish) ---
    const ctx: AuditContext = { d: daemon, dir, ids, tag, runcParent, rktParent, backend: o.backend };
    const until = Date.now() + 60_000;
    let leaks = await audit(ctx);
    fig.firstAudit = leaks.slice(0, 20);
    while (leaks.length > 0 && Date.now() < until) {
      await sleep(500);
      leaks = await audit(ctx);
    }
    fig.timeToCleanMs = Date.now() - pass0;
    fig.finalLeaks = leaks;
    for (const l of leaks) {
      const kind = l.split(' ')[0]!;
      fig.leaksByKind[kind] = (fig.leaksByKind[kind] ?? 0) + 1;
    }
    fig.slowestStopPodSandboxMs = Math.max(0, ...stopDurations.map((s) => s.ms));
    fig.slowStops = stopDurations.filter((s) => s.ms > STOP_BOUND_MS).map((s) => `${s.what}: ${s.ms} ms`);
    return fig;
  } finally {
    // The daemon's log of every start, for reading a failure (the run's dirs are removed below).
    if (d) fs.writeFileSync(path.join(os.tmpdir(), `crash-random-${o.backend}-${o.seed}.log`), d.logs());
    if (d) await teardown(d, dir, o.slot, runcParent, rktParent);
    else await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/** Counts repairs from the daemon's start-up log lines (reconcile and the runc backend's recovery). */
export function scanRepairs(logs: string, into: Record<string, number>): void {
  for (const line of logs.split('\n')) {
    let kind: string | undefined;
    let n = 1;
    if (line.includes('msg="reconcile repaired a record"')) kind = /\bkind=(\S+)/.exec(line)?.[1];
    else if (line.includes('msg="recover: deleting runtime container without a record"'))
      kind = 'runtime_orphan_deleted';
    else if (line.includes('msg="resumed background removals"')) {
      kind = 'resumed_removal';
      n = Number(/\bcount=(\d+)/.exec(line)?.[1] ?? 1);
    }
    if (kind) into[kind] = (into[kind] ?? 0) + n;
  }
}

interface AuditContext {
  readonly d: DaemonHandle;
  readonly dir: string;
  readonly ids: ReadonlySet<string>;
  readonly tag: string;
  readonly runcParent: string;
  readonly rktParent: string;
  readonly backend: CrashBackend;
}

/**
 * Everything of this daemon left on the host, as "kind detail" lines. Attribution: the daemon's own directories
 * (state, run dir, runc root, IPAM dir, netns dir, cgroup parents are all per-run here) and, for what lives in
 * shared places (processes, mounts, Docker containers), its directories, the IDs it handed out and the pod UIDs'
 * run tag.
 */
export async function audit(c: AuditContext): Promise<string[]> {
  const out: string[] = [];
  const { d } = c;
  const mentionsUs = (s: string): boolean =>
    s.includes(c.dir) || s.includes(c.tag) || [...c.ids].some((id) => s.includes(id));
  // records: the ownership store, then the backends' own record dirs (below).
  const store = new SqliteOwnershipStore({ dir: d.stateDir, readonly: true });
  try {
    for (const s of store.listSandboxes()) out.push(`record sandbox ${s.id} (${s.phase})`);
    for (const x of store.listContainers()) out.push(`record container ${x.id} (${x.phase})`);
  } finally {
    store.close();
  }
  // processes: anything but the daemon itself (and its own spawn helper, a part of it) whose command line names our
  // dirs, an ID or the run tag. A helper left by a killed daemon has another parent and counts.
  const daemonItself = new Set([d.pid(), ...spawnHelperPids(d.pid())]);
  for (const pid of procs()) {
    if (daemonItself.has(pid)) continue;
    const cmd = cmdline(pid);
    if (cmd && mentionsUs(cmd)) out.push(`process ${pid} ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
  }
  // mounts (the netns dir's own self bind mount is there by design, like /run/netns).
  const netnsDir = path.join(d.runDir, 'netns');
  for (const m of mountPoints()) if (m !== netnsDir && mentionsUs(m)) out.push(`mount ${m}`);
  for (const f of ls(netnsDir)) out.push(`netns ${f}`);
  // IP allocations of the host-local IPAM (one file per IP, holding the owner's ID).
  const ipam = path.join(c.dir, 'ipam');
  for (const net of ls(ipam))
    for (const f of ls(path.join(ipam, net)))
      if (/^[\d.:a-f]+$/.test(f) && f.includes('.')) out.push(`ip ${f} (${net})`);
  // cgroups below the per-run parents.
  for (const cg of re.cgroupsMentioning(c.runcParent, '')) out.push(`cgroup ${cg}`);
  if (c.backend === 'rkt') for (const cg of await cgroupLeftovers(c.rktParent)) out.push(`cgroup ${cg}`);
  // runtime state: the runc root, Docker's containers, qemu.
  for (const f of ls(path.join(c.dir, 'runc-root'))) out.push(`runtime runc ${f}`);
  if (c.backend === 'docker') {
    const { stdout } = await run('docker', ['ps', '-a', '--format', '{{.ID}} {{.Names}} {{.Labels}}'], {
      timeout: 30_000,
    });
    for (const l of stdout.split('\n')) if (l && mentionsUs(l)) out.push(`runtime docker ${l.slice(0, 100)}`);
  }
  // snapshots, backend records, trash, CNI result cache: any entry named by one of our IDs under the daemon's dirs.
  for (const p of withoutNetns(walkNamed([d.stateDir, d.runDir], c.ids))) {
    const rel = path.relative(d.dir, p);
    const kind = /snapshot/.test(rel) ? 'snapshot' : /trash/.test(rel) ? 'trash' : 'record';
    out.push(`${kind} ${rel}`);
  }
  return out;
}

function procs(): number[] {
  return ls('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((p) => p !== process.pid);
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function mountPoints(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter(Boolean);
}

function ls(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Paths below `roots` whose last component contains one of `ids` (image content is keyed by digest: skipped). */
function walkNamed(roots: string[], ids: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const walk = (p: string, depth: number): void => {
    if (depth > 6) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(p, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const child = path.join(p, e.name);
      if ([...ids].some((id) => id && e.name.includes(id))) {
        out.push(child);
        continue;
      }
      if (e.isDirectory() && !['blobs', 'content', 'layers'].includes(e.name)) walk(child, depth + 1);
    }
  };
  for (const r of roots) walk(r, 0);
  return out;
}

/** The netns dir is audited on its own (and its entries are mounts: not walked). */
function withoutNetns(paths: string[]): string[] {
  return paths.filter((p) => !p.split(path.sep).includes('netns'));
}

async function teardown(
  d: DaemonHandle,
  dir: string,
  slot: number,
  runcParent: string,
  rktParent: string,
): Promise<void> {
  const pods = await d.rt('ListPodSandbox', {}, { deadlineMs: 20_000 }).catch(() => ({ items: [] }));
  for (const p of pods.items ?? [])
    await d.rt('RemovePodSandbox', { pod_sandbox_id: p.id ?? '' }, { deadlineMs: 60_000 }).catch(() => undefined);
  await d.stop().catch(() => d.kill9());
  for (const pid of vmh.qemuProcesses(d.runDir)) process.kill(pid, 'SIGKILL');
  await re.cleanupNetwork(path.join(d.runDir, 'netns'), slot);
  await unmountAll(dir).catch(() => undefined);
  for (const p of re.mountsMentioning(dir)) await re.run('umount', ['--lazy', p]).catch(() => undefined);
  if ((await mountsUnder(dir)).length === 0) await d.cleanup();
  await removeCgroupV1(runcParent).catch(() => undefined);
  await removeParent(rktParent).catch(() => undefined);
  if (fs.existsSync(dir) && (await mountsUnder(dir)).length === 0)
    await fs.promises.rm(dir, { recursive: true, force: true });
}
