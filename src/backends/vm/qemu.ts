/**
 * The qemu command line of a pod VM (notes §6.1) and starting it detached.
 *
 * Every VM — cold boot, template, clone — gets the *same* device set, because a snapshot can only be restored
 * into an identical machine: virtio-serial (agent), virtio-blk (read-only tools disk), virtio-scsi (container
 * disks, hot-plugged later), virtio-net (backend: tap in the pod netns, or an isolated user netdev).
 * qemu runs in its own session (spawned detached, not waited for) with a pidfile, so crimux can exit or crash
 * without taking the pods with it, and find them again from the pidfile and sockets.
 *
 * Confinement (issue #19): qemu parses guest-controlled device traffic as root, so it runs under its seccomp
 * sandbox with every optional deny set (QEMU_SANDBOX). Two consequences shape this file and boot.ts:
 *  - no -daemonize: daemonizing forks and calls setsid after the filter is installed, which spawn=deny and
 *    elevateprivileges=deny kill (SIGSYS, checked with qemu 7.2 here); crimux detaches qemu itself instead;
 *  - no `exec:` migration URIs (they fork a shell): templates are saved and loaded over a unix socket.
 * qemu still runs as root: -runas needs setuid/setgid after the filter (elevateprivileges=deny forbids it), and
 * the disks hot-plugged later (blockdev-add opens qcow2 overlays in crimux's 0700 state dir) and the tap in the
 * pod netns would need per-VM ownership changes first. The seccomp filter is the boundary we can enforce here.
 * The guest console goes to an append-only file chardev whose size console-log.ts caps.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { pollUntil } from '../../host/wait';
import { watchConsoleLog } from './console-log';
import type { GuestArtefacts } from './guest';

/** The MAC every VM's NIC starts with (template and cold boot alike); netconf gives it the pod's MAC. */
export const TEMPLATE_MAC = '02:43:52:4d:58:01';

export type Accel = 'kvm' | 'tcg';

export interface VmPaths {
  readonly dir: string;
  readonly agentSock: string;
  readonly qmpSock: string;
  readonly pidFile: string;
  readonly consoleLog: string;
}

/** Per-VM socket paths; `dir` must stay short (unix socket paths are limited to 108 bytes). */
export function vmPaths(runDir: string, consoleLog: string): VmPaths {
  return {
    dir: runDir,
    agentSock: path.join(runDir, 'agent.sock'),
    qmpSock: path.join(runDir, 'qmp.sock'),
    pidFile: path.join(runDir, 'qemu.pid'),
    consoleLog,
  };
}

export interface QemuSpec {
  readonly qemu: string;
  readonly accel: Accel;
  readonly guest: GuestArtefacts;
  readonly memMiB: number;
  readonly vcpus: number;
  readonly paths: VmPaths;
  /** tap device name inside the netns qemu starts in; absent: an isolated user-mode netdev (probe only). */
  readonly tap?: string;
  /** Restore from a template state file instead of booting (`-incoming defer`; boot.ts drives the load). */
  readonly incoming?: string;
  /**
   * Guest RAM in a file: the template writes it shared (share=on); clones map it private (copy-on-write), so the
   * pages no clone has written stay shared page cache across all clones of a template.
   */
  readonly memFile?: { readonly path: string; readonly share: boolean };
  /** Extra kernel command line (the accelerator probe sets vmprobe=1). */
  readonly extraAppend?: string;
}

/** Host TSC frequency in kHz: under TCG the guest must not calibrate it (a failed PIT calibration hangs it). */
export function hostTscKhz(): number {
  const m = /cpu MHz\s*:\s*([\d.]+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  return m?.[1] ? Math.round(Number(m[1]) * 1000) : 0;
}

/**
 * Paths end up inside qemu's `key=value,key=value` option strings: a `,` would start a new option of the path's
 * choosing. They are crimux's own (state dir, pod IDs), never a request's; a config that puts a comma in them is
 * refused rather than escaped.
 */
function refuseOptionSeparators(values: readonly string[]): void {
  const bad = values.find((v) => v.includes(','));
  if (bad !== undefined) throw new InvalidArgumentError(`build qemu command line: "${bad}" contains ","`);
}

/** qemu's seccomp sandbox with every optional deny: no obsolete syscalls, set*id, fork/exec, or priority/affinity. */
export const QEMU_SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

export function qemuArgs(s: QemuSpec): string[] {
  const append = ['console=ttyS0', 'quiet', 'panic=-1', 'nowatchdog'];
  const accel: string[] = [];
  if (s.accel === 'tcg') {
    const khz = hostTscKhz();
    if (khz > 0) append.push(`tsc_early_khz=${khz}`);
    append.push('tsc=reliable');
    // -cpu max gives ARAT (NOHZ idle: 0.6 % vs 7 % of a core) and a faster V8; tb-size bounds the TCG cache RSS.
    accel.push('-accel', 'tcg,tb-size=32', '-cpu', 'max');
  } else {
    accel.push('-accel', 'kvm', '-cpu', 'host');
  }
  if (s.extraAppend) append.push(s.extraAppend);
  const p = s.paths;
  refuseOptionSeparators([p.consoleLog, p.agentSock, p.qmpSock, s.guest.tools, s.memFile?.path ?? '', s.tap ?? '']);
  const mem = s.memFile
    ? [
        '-object',
        `memory-backend-file,id=mem,size=${s.memMiB}M,mem-path=${s.memFile.path},share=${s.memFile.share ? 'on' : 'off'}`,
      ]
    : [];
  const args = [
    '-M',
    s.memFile ? 'microvm,memory-backend=mem' : 'microvm',
    ...mem,
    ...accel,
    '-smp',
    String(s.vcpus),
    '-m',
    `${s.memMiB}M`,
    '-nographic',
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-kernel',
    s.guest.kernel,
    '-initrd',
    s.guest.initrd,
    '-append',
    append.join(' '),
    '-chardev',
    `file,id=console,path=${p.consoleLog},append=on`,
    '-serial',
    'chardev:console',
    '-chardev',
    `socket,id=agent,path=${p.agentSock},server=on,wait=off`,
    '-device',
    'virtio-serial-device',
    '-device',
    'virtserialport,chardev=agent,name=agent',
    '-qmp',
    `unix:${p.qmpSock},server=on,wait=off`,
    '-drive',
    `file=${s.guest.tools},if=none,id=tools,format=raw,readonly=on`,
    '-device',
    'virtio-blk-device,drive=tools,serial=agenttools',
    '-device',
    'virtio-scsi-device,id=scsi0',
    '-netdev',
    s.tap ? `tap,id=n0,ifname=${s.tap},script=no,downscript=no` : 'user,id=n0,restrict=on',
    '-device',
    `virtio-net-device,netdev=n0,mac=${TEMPLATE_MAC}`,
    '-pidfile',
    p.pidFile,
    '-sandbox',
    QEMU_SANDBOX,
  ];
  if (s.incoming) args.push('-incoming', 'defer');
  return args;
}

/**
 * Start qemu detached (inside `netns` when given) and return its pid once it serves QMP. qemu's stderr goes to a
 * file beside its sockets, so an early exit reports qemu's own message and a later write never hits a closed pipe.
 */
export async function startQemu(s: QemuSpec, netns?: string): Promise<number> {
  fs.mkdirSync(s.paths.dir, { recursive: true });
  for (const f of [s.paths.agentSock, s.paths.qmpSock, s.paths.pidFile]) fs.rmSync(f, { force: true });
  watchConsoleLog(s.paths.consoleLog);
  // nsenter execs qemu in place (no fork): the child's pid is qemu's.
  const argv = netns ? ['nsenter', `--net=${netns}`, '--', s.qemu, ...qemuArgs(s)] : [s.qemu, ...qemuArgs(s)];
  const [cmd, ...rest] = argv as [string, ...string[]];
  const errFile = path.join(s.paths.dir, 'qemu.stderr');
  const errFd = fs.openSync(errFile, 'w', 0o600);
  let child;
  try {
    child = spawn(cmd, rest, { stdio: ['ignore', 'ignore', errFd], detached: true });
  } finally {
    fs.closeSync(errFd);
  }
  child.unref();
  let exit: string | undefined;
  child.on('error', (e) => (exit = e.message));
  child.on('exit', (code, sig) => (exit = `exit ${String(code ?? sig)}`));
  const stderr = (): string => {
    try {
      return fs.readFileSync(errFile, 'utf8').trim().slice(0, 2000);
    } catch {
      return '';
    }
  };
  // qemu creates its QMP socket while setting the machine up (well under a second); one stuck longer is killed.
  const up = await pollUntil(
    async () => {
      if (fs.existsSync(s.paths.qmpSock) && readPid(s.paths.pidFile) !== undefined) return true;
      if (exit !== undefined) throw new UnavailableError(`start qemu: ${exit}: ${stderr()}`);
      return undefined;
    },
    { timeoutMs: 60_000, intervalMs: 20, maxIntervalMs: 20 },
  );
  if (!up) {
    child.kill('SIGKILL');
    throw new UnavailableError(`start qemu: no QMP socket within 60 s (${stderr()})`);
  }
  if (exit !== undefined) throw new UnavailableError(`start qemu: ${exit}: ${stderr()}`);
  return readPid(s.paths.pidFile)!;
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Processes whose command line names a pidfile below `runDir` (`-pidfile <runDir>/<vm>/qemu.pid`), with that path.
 * The argument is there from the exec on, before qemu writes the pidfile and long before crimux records the pid, so
 * this finds a VM whose record is incomplete: a crimux killed between spawning qemu and saving its pid left the pod
 * record at pid 0 and the VM running, unreachable by any CRI call (issue #24). Also matches the `nsenter … qemu`
 * argv before nsenter execs qemu. Scoped by the daemon's own run dir, so another daemon's VMs are never touched.
 */
export function qemuProcessesUnder(runDir: string): { pid: number; pidFile: string }[] {
  const prefix = runDir.endsWith('/') ? runDir : `${runDir}/`;
  const out: { pid: number; pidFile: string }[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    const i = argv.indexOf('-pidfile');
    const file = i >= 0 ? argv[i + 1] : undefined;
    if (file?.startsWith(prefix) && path.basename(file) === 'qemu.pid') out.push({ pid: Number(e), pidFile: file });
  }
  return out;
}

/** Whether `pid` is alive and still a qemu (pids are reused after a host reboot or a long time). */
export function isQemu(pid: number): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('qemu-system') || cmd.includes('qemu');
  } catch {
    return false;
  }
}

/** Resident memory of the qemu process in bytes (the pod's overhead in stats). */
export function qemuRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time of the qemu process in nanoseconds (utime + stime). */
export function qemuCpuNs(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(f[11]) + Number(f[12]);
    return Math.round((ticks * 1e9) / 100); // USER_HZ is 100 on Linux/x86
  } catch {
    return 0;
  }
}
