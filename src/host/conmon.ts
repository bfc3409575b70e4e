/**
 * Driving conmon, the per-container monitor CRI-O and Podman use (tested with conmon 2.1.x).
 *
 * Why conmon: it holds the container's stdio, writes the CRI log file, reaps the container and writes its exit
 * code to a file, all in its own session — so containers, their logs and their exit codes survive a crash or
 * restart of crimux. crimux keeps no open handle on a container; it finds everything again from files.
 *
 * Protocol (conmon's own): conmon forks, the parent writes the monitor's PID to --conmon-pidfile and exits; the
 * monitor runs `<runtime> create`, then reports `{"pid": N}` (or `{"pid": -1, "message": …}`) on the fd named
 * by _OCI_SYNCPIPE. On exit it writes the exit code to <persist-dir>/exit and, after an OOM kill, creates
 * <persist-dir>/oom. Control messages go to the `ctl` FIFO in the bundle: "<type> <h> <w>\n" with type 1 = resize,
 * 2 = reopen the log files.
 */
import { promises as fs, constants as fsc, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DeadlineExceededError, FailedPreconditionError, InternalError, UnavailableError } from '../errors';
import { spawnChild } from './spawner';

export interface ConmonStartOptions {
  readonly conmonPath: string;
  readonly runtimePath: string;
  /** Global runtime flags (e.g. ["--root", dir]); each becomes a --runtime-arg. */
  readonly runtimeArgs: readonly string[];
  readonly id: string;
  readonly bundleDir: string;
  /** Holds conmon.pid, pidfile, exit and oom (conmon's --persist-dir). */
  readonly stateDir: string;
  /** Where the attach-socket symlink goes; must be short (unix socket paths are limited to 108 bytes). */
  readonly socketDir: string;
  /** CRI log file (k8s-file format); absent: no log is kept. */
  readonly logPath?: string;
  readonly logSizeMax?: number;
  readonly terminal?: boolean;
  readonly stdin?: boolean;
  readonly stdinOnce?: boolean;
  readonly timeoutMs?: number;
}

export interface ConmonPaths {
  readonly conmonPidFile: string;
  readonly containerPidFile: string;
  readonly exitFile: string;
  readonly oomFile: string;
}

/** Where conmon writes its files for a container whose --persist-dir is `stateDir`. */
export function conmonPaths(stateDir: string): ConmonPaths {
  return {
    conmonPidFile: path.join(stateDir, 'conmon.pid'),
    containerPidFile: path.join(stateDir, 'pidfile'),
    exitFile: path.join(stateDir, 'exit'),
    oomFile: path.join(stateDir, 'oom'),
  };
}

/** Starts conmon (which runs `runtime create`) and resolves with the container's init PID once it is created. */
export async function startConmon(opts: ConmonStartOptions): Promise<{ pid: number; conmonPid: number }> {
  const files = conmonPaths(opts.stateDir);
  const args = [
    '--api-version',
    '1',
    '-c',
    opts.id,
    '-u',
    opts.id,
    '-n',
    opts.id,
    '-r',
    opts.runtimePath,
    '-b',
    opts.bundleDir,
    '-p',
    files.containerPidFile,
    '-P',
    files.conmonPidFile,
    '--persist-dir',
    opts.stateDir,
    '--exit-dir',
    opts.stateDir,
    '--socket-dir-path',
    opts.socketDir,
    '--syslog=false',
    '--log-level',
    'error',
    '-l',
    opts.logPath ? `k8s-file:${opts.logPath}` : 'none:',
  ];
  if (opts.logSizeMax && opts.logSizeMax > 0) args.push('--log-size-max', String(opts.logSizeMax));
  if (opts.terminal) args.push('-t');
  if (opts.stdin) args.push('-i');
  if (opts.stdin && !opts.stdinOnce) args.push('--leave-stdin-open');
  for (const a of opts.runtimeArgs) args.push(`--runtime-arg=${a}`);

  // fd 3 is the sync pipe. detached: conmon calls setsid() itself, but starting it in its own process group keeps
  // a terminal's ^C or a test harness killing crimux's group from reaching the monitors.
  const child = spawnChild(opts.conmonPath, args, {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, _OCI_SYNCPIPE: '3' },
    cwd: opts.stateDir,
  });
  child.unref();
  const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void; unref?: () => void };
  const timeoutMs = opts.timeoutMs ?? 60_000;

  const stderr: Buffer[] = [];
  child.stderr?.on('data', (b: Buffer) => stderr.push(b));

  const msg = await new Promise<{ pid: number; message?: string }>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      finish();
      reject(new DeadlineExceededError(`create container ${opts.id}: conmon did not report within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      sync.removeAllListeners('data');
      sync.destroy();
    };
    child.on('error', (e) => {
      finish();
      reject(new UnavailableError(`create container ${opts.id}: start conmon: ${e.message}`, { cause: e }));
    });
    sync.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      finish();
      try {
        const parsed = JSON.parse(buf.slice(0, nl)) as { data?: number; pid?: number; message?: string };
        resolve({ pid: parsed.data ?? parsed.pid ?? -1, message: parsed.message });
      } catch (e) {
        reject(new InternalError(`create container ${opts.id}: bad conmon sync message: ${buf}`, { cause: e }));
      }
    });
    sync.on('end', () => {
      if (buf.includes('\n')) return;
      finish();
      const why = Buffer.concat(stderr).toString('utf8').trim();
      reject(new InternalError(`create container ${opts.id}: conmon exited before reporting${why ? `: ${why}` : ''}`));
    });
    sync.on('error', () => undefined);
  });
  if (msg.pid <= 0) {
    throw new InternalError(`create container ${opts.id}: ${msg.message?.trim() || 'runtime create failed'}`);
  }
  const conmonPid = await readPidFile(files.conmonPidFile);
  return { pid: msg.pid, conmonPid: conmonPid ?? -1 };
}

/** Reads a PID file; null when it is missing or empty. */
export async function readPidFile(file: string): Promise<number | null> {
  try {
    const n = Number.parseInt((await fs.readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Whether `pid` is alive and its command line contains `marker` (guards against PID reuse after a restart). */
export async function processAlive(pid: number, marker?: string): Promise<boolean> {
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 3 after the "(comm)" is the state; Z means a zombie nobody reaped yet: as good as dead.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z') return false;
    return marker === undefined || cmdline.split('\0').includes(marker);
  } catch {
    return false;
  }
}

/**
 * A live process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot); undefined when it is gone
 * or a zombie. With the PID it names one process for good: a reused PID starts later. Synchronous on purpose: a
 * procfs read never blocks, and it is cheaper than a round trip through the thread pool.
 */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // After "(comm) " come the state (field 3) and then fields 4…: starttime (22) is the 20th of them.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 20);
  if (fields[0] === 'Z') return undefined;
  return fields[19];
}

/** The exit code conmon recorded, with the file's mtime (the finish time); null while the container runs. */
export async function readExitFile(stateDir: string): Promise<{ code: number; finishedAtNs: bigint } | null> {
  const file = conmonPaths(stateDir).exitFile;
  try {
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file, { bigint: true })]);
    const code = Number.parseInt(text.trim(), 10);
    if (!Number.isInteger(code)) return null; // written but not yet flushed: treat as still running
    return { code, finishedAtNs: st.mtimeNs };
  } catch {
    return null;
  }
}

/** Whether conmon saw an OOM kill in the container's memory cgroup. */
export async function oomKilled(stateDir: string): Promise<boolean> {
  try {
    await fs.access(conmonPaths(stateDir).oomFile);
    return true;
  } catch {
    return false;
  }
}

/**
 * Asks conmon to reopen the log file (after the kubelet rotated it). FailedPrecondition when conmon is gone.
 * conmon reopens asynchronously; the kubelet (and the upstream suite) expect the new file to exist when the call
 * returns, as containerd and CRI-O guarantee, so wait (bounded) until `logPath` is there again.
 */
export async function reopenLog(bundleDir: string, logPath?: string, timeoutMs = 5_000): Promise<void> {
  await writeCtl(bundleDir, '2 0 0\n');
  if (!logPath) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fs.stat(logPath);
      return;
    } catch {
      if (Date.now() >= deadline) {
        throw new DeadlineExceededError(`conmon did not reopen ${logPath} within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Resizes the container's terminal. */
export async function resizeTerminal(bundleDir: string, width: number, height: number): Promise<void> {
  await writeCtl(bundleDir, `1 ${Math.max(0, Math.floor(height))} ${Math.max(0, Math.floor(width))}\n`);
}

/** conmon's attach socket (SOCK_SEQPACKET; frames from conmon start with a byte: 2 = stdout, 3 = stderr). */
export function attachSocketPath(bundleDir: string): string {
  return path.join(bundleDir, 'attach');
}

async function writeCtl(bundleDir: string, line: string): Promise<void> {
  // O_NONBLOCK: opening a FIFO for writing with no reader fails with ENXIO instead of hanging when conmon is gone.
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path.join(bundleDir, 'ctl'), fsc.O_WRONLY | fsc.O_NONBLOCK);
  } catch (e) {
    throw new FailedPreconditionError(`write conmon control fifo in ${bundleDir}: conmon is not running`, { cause: e });
  }
  try {
    await fh.write(line);
  } finally {
    await fh.close();
  }
}
