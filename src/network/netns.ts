/**
 * Persistent named network namespaces for pods, shared by every backend (runc joins it by path, docker and rkt
 * get it as a container's netns, the VM backend puts its tap device in it).
 *
 * How: `unshare --net=<file>` (util-linux) creates the namespace and bind-mounts it onto the file, which is what
 * `ip netns add` does. Why not Node or ip(8) itself: Node cannot switch one of its own threads into a new
 * namespace, and `ip netns add` is hard-wired to /run/netns while crimux keeps its namespaces in a configurable
 * dir. unshare leaves no helper process behind and fails as one step. Like ip(8), the dir is made a shared
 * mount (bind-mounted onto itself first if needed) so that a namespace removed here is also unmounted in mount
 * namespaces created in between, instead of being pinned alive there with its veth and IP.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AlreadyExistsError, InternalError, InvalidArgumentError } from '../errors';
import type { Logger } from '../log/logger';
import { nullLogger } from '../log/logger';
import { firstLine, runCommand, type RunOptions, type RunResult } from '../host/process';

export const DEFAULT_NETNS_DIR = '/run/crimux/netns';
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const CMD_TIMEOUT_MS = 30_000;

export interface NetnsManagerOptions {
  /** Where namespaces are bind-mounted; DEFAULT_NETNS_DIR by default. */
  readonly dir?: string;
  readonly logger?: Logger;
}

export class NetnsManager {
  readonly dir: string;
  private readonly log: Logger;
  private dirReady = false;

  constructor(options: NetnsManagerOptions = {}) {
    this.dir = path.resolve(options.dir ?? DEFAULT_NETNS_DIR);
    this.log = (options.logger ?? nullLogger()).child({ component: 'netns' });
  }

  /** The path of the namespace called name (whether or not it exists). */
  pathOf(name: string): string {
    if (!NAME.test(name)) {
      throw new InvalidArgumentError(`netns name "${name}": want 1-128 of [A-Za-z0-9_.-], starting alphanumeric`);
    }
    return path.join(this.dir, name);
  }

  /**
   * Create the namespace with its loopback up and return its path. AlreadyExistsError if it exists (callers
   * repeating a create after a crash remove it first); a leftover unmounted file is replaced.
   */
  async create(name: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const file = this.pathOf(name);
    await this.prepareDir(options.signal);
    if (await isNetnsMount(file)) throw new AlreadyExistsError(`create netns ${name}: already exists`);
    this.log.debug('create netns', { netns: file });
    await fs.rm(file, { force: true });
    await fs.writeFile(file, '', { mode: 0o444, flag: 'wx' });
    try {
      await mustRun('unshare', [`--net=${file}`, 'true'], `create netns ${name}`, options.signal);
      await mustRun(
        'nsenter',
        [`--net=${file}`, 'ip', 'link', 'set', 'lo', 'up'],
        `create netns ${name}`,
        options.signal,
      );
    } catch (err) {
      await this.remove(file).catch((e: unknown) => this.log.warn('clean up failed netns', { netns: file, error: e }));
      throw err;
    }
    this.log.info('created netns', { netns: file });
    return file;
  }

  /**
   * Pin the network namespace of a running process under `name` and return its path: for namespaces someone else
   * made (Docker's pause container runs with network mode none). The pin keeps CNI DEL pointed at the right
   * namespace after that process died or its PID was reused. A leftover pin of the same name is replaced.
   */
  async adopt(name: string, pid: number, options: { signal?: AbortSignal } = {}): Promise<string> {
    if (!Number.isSafeInteger(pid) || pid <= 1) throw new InvalidArgumentError(`adopt netns ${name}: bad pid ${pid}`);
    const file = this.pathOf(name);
    await this.prepareDir(options.signal);
    if (await isNetnsMount(file)) await this.remove(file, options);
    await fs.rm(file, { force: true });
    await fs.writeFile(file, '', { mode: 0o444, flag: 'wx' });
    try {
      await mustRun('mount', ['--bind', `/proc/${pid}/ns/net`, file], `pin netns of pid ${pid}`, options.signal);
    } catch (err) {
      await fs.rm(file, { force: true });
      throw err;
    }
    this.log.info('pinned netns', { netns: file, pid });
    return file;
  }

  /** Unmount and delete the namespace (a name, or a path as create returned); missing is success. */
  async remove(nameOrPath: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const file = path.isAbsolute(nameOrPath) ? nameOrPath : this.pathOf(nameOrPath);
    // Namespaces can be stacked on one file (a crashed create, a foreign mount); unmount until none is left.
    for (let i = 0; i < 8 && (await isMountPoint(file)); i++) {
      // Lazy, like `ip netns delete`: a process still inside keeps the namespace alive, not the mount.
      const res = await runCommand('umount', ['--lazy', file], { signal: options.signal, timeoutMs: CMD_TIMEOUT_MS });
      if (res.code !== 0 && (await isMountPoint(file))) {
        throw new InternalError(`remove netns ${file}: umount: ${firstLine(res)}`);
      }
    }
    try {
      await fs.rm(file);
      this.log.info('removed netns', { netns: file });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new InternalError(`remove netns ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** Whether the namespace exists (a mounted namespace file, not a leftover plain file). */
  async exists(nameOrPath: string): Promise<boolean> {
    return isNetnsMount(path.isAbsolute(nameOrPath) ? nameOrPath : this.pathOf(nameOrPath));
  }

  /** Names of the namespaces mounted in the dir. */
  async list(): Promise<string[]> {
    const mounts = await readMountinfo();
    return mounts
      .filter((m) => m.fstype === 'nsfs' && path.dirname(m.mountPoint) === this.dir)
      .map((m) => path.basename(m.mountPoint))
      .sort();
  }

  /**
   * Undo the dir's self bind mount once no namespace is left in it (tests, uninstall); a no-op otherwise. The
   * daemon never needs it: like /run/netns, the bind mount is harmless to keep.
   */
  async releaseDir(options: { signal?: AbortSignal } = {}): Promise<void> {
    if ((await this.list()).length > 0 || !(await isMountPoint(this.dir))) return;
    await mustRun('umount', ['--lazy', this.dir], `release netns dir ${this.dir}`, options.signal);
    this.dirReady = false;
  }

  /** mkdir -p the dir and make it a shared mount, like ip(8) does for /run/netns. */
  private async prepareDir(signal?: AbortSignal): Promise<void> {
    if (this.dirReady) return;
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    if (!(await isMountPoint(this.dir))) {
      await mustRun('mount', ['--bind', this.dir, this.dir], `prepare netns dir ${this.dir}`, signal);
    }
    await mustRun('mount', ['--make-shared', this.dir], `prepare netns dir ${this.dir}`, signal);
    this.dirReady = true;
  }
}

/** Run a command inside a namespace (by path) to completion: `nsenter --net=PATH -- argv...`. */
export function execInNetns(netnsPath: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0) throw new InvalidArgumentError('exec in netns: empty command');
  return runCommand('nsenter', [`--net=${netnsPath}`, '--', ...argv], options);
}

/**
 * Start a long-running command inside a namespace (e.g. a listener in a test). The caller owns the process.
 * Node cannot run a JavaScript callback inside another namespace, so commands are the only way in.
 */
export function spawnInNetns(netnsPath: string, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
  if (argv.length === 0) throw new InvalidArgumentError('spawn in netns: empty command');
  return spawn('nsenter', [`--net=${netnsPath}`, '--', ...argv], options);
}

async function mustRun(file: string, args: string[], what: string, signal?: AbortSignal): Promise<void> {
  const res = await runCommand(file, args, { signal, timeoutMs: CMD_TIMEOUT_MS });
  if (res.code !== 0) throw new InternalError(`${what}: ${file}: ${firstLine(res)}`);
}

interface MountEntry {
  readonly mountPoint: string;
  readonly fstype: string;
}

/** Mounts of this process's mount namespace; mountinfo escapes space, tab, newline and backslash as octal. */
async function readMountinfo(): Promise<MountEntry[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const unescape = (s: string): string =>
    s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    const mountPoint = fields[4];
    const fstype = fields[sep + 1];
    if (sep < 0 || mountPoint === undefined || fstype === undefined) continue;
    entries.push({ mountPoint: unescape(mountPoint), fstype });
  }
  return entries;
}

async function isMountPoint(p: string): Promise<boolean> {
  return (await readMountinfo()).some((m) => m.mountPoint === p);
}

/** Whether p has a network namespace mounted on it. */
export async function isNetnsMount(p: string): Promise<boolean> {
  const mounts = await readMountinfo();
  for (let i = mounts.length - 1; i >= 0; i--) {
    // The last mount on a path is the visible one.
    const m = mounts[i];
    if (m?.mountPoint === p) return m.fstype === 'nsfs';
  }
  return false;
}
