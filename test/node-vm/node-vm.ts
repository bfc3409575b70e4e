/**
 * The node VM of the cgroup v2 / systemd suite (not a test file; issue #26): a Debian 12 guest with systemd as
 * PID 1 and the unified hierarchy (scripts/build-node-vm.sh, cached), booted once under qemu TCG on a throw-away
 * overlay, with a second disk carrying crimux (dist, production node_modules, proto, config, crimux-io,
 * crimux-stage1) and guest/start.sh, which runs one crimux per cgroup driver (the cgroupfs one also serves the rkt
 * handler). qemu's user-mode net forwards, on 127.0.0.1 only, each
 * crimux's CRI socket (via socat in the guest) and a read-only probe of the node's cgroups and units.
 * Every step is bounded; kill() is safe to call at any point.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CriClient } from '../helpers/cri-client';

export const ROOT = path.resolve(__dirname, '..', '..');
export const DRIVERS = ['cgroupfs', 'systemd'] as const;
export type Driver = (typeof DRIVERS)[number];

/** Guest ports (start.sh) of each crimux's CRI socket and of the probe. */
const GUEST_PORT: Record<Driver | 'probe', number> = { cgroupfs: 10010, systemd: 10011, probe: 10012 };
/** Each driver's crimux gets its own CNI bridge and subnet in the guest. */
export const POD_SUBNET: Record<Driver, { bridge: string; prefix: string }> = {
  cgroupfs: { bridge: 'crimuxc0', prefix: '10.88.1' },
  systemd: { bridge: 'crimuxs0', prefix: '10.88.2' },
};

/**
 * Opt-out for machines that cannot build the node VM at all (no apt mirror, no qemu): only this variable skips
 * the suite; without it a missing VM is a failure, like the vm backend's guest.
 */
export const SKIP_REASON =
  process.env.CRIMUX_SKIP_NODE_VM === '1' ? 'CRIMUX_SKIP_NODE_VM=1: the cgroup v2 node VM suite is opted out' : false;

function sh(cmd: string, args: string[], timeoutMs: number, what: string): string {
  try {
    return execFileSync(cmd, args, {
      cwd: ROOT,
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${what} failed: ${e.message}\n${(e.stderr ?? '').slice(-4000)}`, { cause: err });
  }
}

/** Builds (first time: debootstrap, ≈ 3 min; later: the cached dir at once) the node VM; returns its dir. */
export function ensureNodeVm(): string {
  const out = sh('bash', [path.join(ROOT, 'scripts/build-node-vm.sh')], 25 * 60_000, 'scripts/build-node-vm.sh');
  const dir = out.trim().split('\n').pop() ?? '';
  for (const f of ['vmlinuz', 'initrd.img', 'root.qcow2', 'ok']) {
    if (!fs.existsSync(path.join(dir, f))) throw new Error(`node VM in "${dir}" lacks ${f}`);
  }
  return dir;
}

function newestMtime(dir: string): number {
  let max = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) max = Math.max(max, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return max;
}

/** dist/ is what runs in the guest: (re)built with `npm run build` when missing or older than src/. */
export function ensureDist(): void {
  const main = path.join(ROOT, 'dist/src/cli/main.js');
  if (fs.existsSync(main) && fs.statSync(main).mtimeMs >= newestMtime(path.join(ROOT, 'src'))) return;
  sh('npm', ['run', '--silent', 'build'], 10 * 60_000, 'npm run build');
}

/**
 * An installed native helper (scripts/build-native.sh): crimux-io (conmon's I/O for the runc backend) or
 * crimux-stage1 (the rkt stage1's privileged steps, libseccomp included), both statically linked so they run in the
 * guest as they are.
 */
function nativeHelper(name: 'crimux-io' | 'crimux-stage1'): string {
  const p = path.join(process.env.CRIMUX_NATIVE_DIR ?? '/usr/local/libexec/crimux', name);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run scripts/build-native.sh (scripts/setup.sh does)`);
  return p;
}

function crimuxConfig(driver: Driver, registryPort: number): Record<string, unknown> {
  const endpoint = { endpoints: [{ url: `http://10.0.2.2:${registryPort}` }] };
  return {
    socket: { path: `/run/crimux-${driver}/crimux.sock` },
    stateDir: `/var/lib/crimux-${driver}`,
    runDir: `/run/crimux-${driver}`,
    logLevel: 'info',
    metrics: { address: '127.0.0.1:0' },
    network: { confDir: `/opt/app/cni-${driver}` },
    images: { registries: { 'docker.io': endpoint, 'registry.k8s.io': endpoint } },
    security: { logRoot: `/var/log/pods-${driver}` },
    handlers: {
      runc: { backend: 'runc', options: {} },
      // The rkt backend speaks cgroupfs paths only (its stage1 puts each pod in <parent>/rkt-<uuid> itself), so it
      // runs in the cgroupfs driver's crimux, next to runc.
      ...(driver === 'cgroupfs' ? { rkt: { backend: 'rkt', options: {} } } : {}),
    },
    backends: {
      runc: {
        enabled: true,
        cgroupDriver: driver,
        cgroupParent: driver === 'systemd' ? 'crimux.slice' : '/crimux',
        ioHelperPath: '/opt/app/libexec/crimux-io',
      },
      ...(driver === 'cgroupfs'
        ? {
            rkt: {
              enabled: true,
              stage1: { cgroupParent: '/crimux-rkt', helperPath: '/opt/app/libexec/crimux-stage1' },
            },
          }
        : {}),
    },
  };
}

function cniConf(driver: Driver): Record<string, unknown> {
  const conf = JSON.parse(fs.readFileSync(path.join(ROOT, 'config/cni/10-crimux.conflist'), 'utf8')) as {
    name: string;
    plugins: Record<string, unknown>[];
  };
  conf.name = `crimux-${driver}`;
  const b = conf.plugins[0] as { bridge: string; ipam: Record<string, unknown> };
  b.bridge = POD_SUBNET[driver].bridge;
  b.ipam.ranges = [[{ subnet: `${POD_SUBNET[driver].prefix}.0/24` }]];
  b.ipam.dataDir = `/var/lib/cni-${driver}`;
  return conf;
}

/** The production dependencies' directories (npm ls), without those nested in another listed one. */
function productionModules(): string[] {
  const out = sh('npm', ['ls', '--omit=dev', '--all', '--parseable'], 120_000, 'npm ls --omit=dev');
  const dirs = out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(path.join(ROOT, 'node_modules') + path.sep))
    .sort();
  return dirs.filter((d, i) => !dirs.slice(0, i).some((p) => d.startsWith(p + path.sep)));
}

/** Stages the app disk's tree and makes it an ext4 image (mkfs.ext4 -d); returns the image path. */
export function buildAppDisk(work: string, registryPort: number): string {
  const stage = path.join(work, 'app');
  fs.mkdirSync(stage, { recursive: true });
  for (const p of ['package.json', 'dist', 'proto', 'config']) {
    fs.cpSync(path.join(ROOT, p), path.join(stage, p), { recursive: true });
  }
  for (const d of productionModules()) {
    fs.cpSync(d, path.join(stage, path.relative(ROOT, d)), { recursive: true, verbatimSymlinks: true });
  }
  fs.mkdirSync(path.join(stage, 'libexec'));
  for (const h of ['crimux-io', 'crimux-stage1'] as const) {
    fs.copyFileSync(nativeHelper(h), path.join(stage, 'libexec', h));
    fs.chmodSync(path.join(stage, 'libexec', h), 0o755);
  }
  for (const s of ['start.sh', 'probe.sh']) fs.copyFileSync(path.join(__dirname, 'guest', s), path.join(stage, s));
  for (const d of DRIVERS) {
    fs.writeFileSync(path.join(stage, `crimux-${d}.json`), JSON.stringify(crimuxConfig(d, registryPort), null, 2));
    fs.mkdirSync(path.join(stage, `cni-${d}`));
    fs.writeFileSync(path.join(stage, `cni-${d}`, '10-crimux.conflist'), JSON.stringify(cniConf(d), null, 2));
  }
  const kib = Number(sh('du', ['-sk', stage], 60_000, 'du').split(/\s+/)[0]);
  const image = path.join(work, 'app.ext4');
  const sizeMiB = Math.ceil((kib * 1.3) / 1024) + 32;
  sh('mkfs.ext4', ['-q', '-F', '-L', 'crimux-app', '-d', stage, image, `${sizeMiB}M`], 120_000, 'mkfs.ext4');
  fs.rmSync(stage, { recursive: true, force: true });
  return image;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface NodeVm {
  readonly work: string;
  /** Host ports on 127.0.0.1 forwarded to the guest's crimux sockets and probe. */
  readonly ports: Record<Driver | 'probe', number>;
  /** gRPC target of a driver's crimux, for CriClient. */
  target(driver: Driver): string;
  /** The serial console so far (kernel, systemd, start.sh). */
  console(): string;
  /** One probe command (guest/probe.sh) and its output. */
  probe(command: string, timeoutMs?: number): Promise<string>;
  running(): boolean;
  kill(): Promise<void>;
}

/** Boots the node VM: a qcow2 overlay of root.qcow2 in `work`, the app disk read-only, console to a file. */
export async function bootNodeVm(vmDir: string, appDisk: string, work: string): Promise<NodeVm> {
  const overlay = path.join(work, 'root-overlay.qcow2');
  sh(
    'qemu-img',
    ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', path.join(vmDir, 'root.qcow2'), overlay],
    60_000,
    'qemu-img create',
  );
  const ports = {
    cgroupfs: await freePort(),
    systemd: await freePort(),
    probe: await freePort(),
  };
  const fwd = (Object.keys(ports) as (keyof typeof ports)[])
    .map((k) => `hostfwd=tcp:127.0.0.1:${ports[k]}-:${GUEST_PORT[k]}`)
    .join(',');
  const consoleLog = path.join(work, 'console.log');
  const args = [
    ...['-M', 'q35', '-accel', 'tcg', '-smp', '2', '-m', '1536'],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-serial', `file:${consoleLog}`],
    ...['-kernel', path.join(vmDir, 'vmlinuz'), '-initrd', path.join(vmDir, 'initrd.img')],
    ...['-append', 'root=/dev/vda rw console=ttyS0 panic=-1'],
    ...['-drive', `file=${overlay},if=virtio,format=qcow2`],
    ...['-drive', `file=${appDisk},if=virtio,format=raw,readonly=on`],
    ...['-netdev', `user,id=n0,${fwd}`, '-device', 'virtio-net-pci,netdev=n0'],
    '-no-reboot',
  ];
  let stderr = '';
  let failed = false;
  const qemu: ChildProcess = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  qemu.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => {
    qemu.once('exit', () => resolve());
    qemu.once('error', (err) => {
      failed = true; // e.g. qemu-system-x86_64 not installed
      stderr += `cannot start qemu-system-x86_64: ${err.message}\n`;
      resolve();
    });
  });
  const running = (): boolean => !failed && qemu.exitCode === null && qemu.signalCode === null;
  const readConsole = (): string => {
    try {
      return fs.readFileSync(consoleLog, 'utf8') + (stderr ? `\n[qemu stderr]\n${stderr}` : '');
    } catch {
      return stderr;
    }
  };
  return {
    work,
    ports,
    target: (driver) => `ipv4:127.0.0.1:${ports[driver]}`,
    console: readConsole,
    running,
    probe: (command, timeoutMs = 20_000) => probe(ports.probe, command, timeoutMs),
    async kill() {
      if (!running()) return;
      qemu.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    },
  };
}

function probe(port: number, command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const sock = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`probe "${command}": no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`${command}\n`));
    sock.on('data', (d: Buffer) => (out += d.toString()));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** Bounded wait for `check` to return something other than undefined (errors count as "not yet"). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 500,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Waits until a driver's crimux answers Version through the forward. A fresh client per attempt: grpc-js would
 * otherwise back off for up to two minutes between reconnects while the guest boots. Fails at once when qemu exits.
 */
export async function waitCri(vm: NodeVm, driver: Driver, timeoutMs: number): Promise<CriClient> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (!vm.running()) {
      throw new Error(`qemu exited before crimux (${driver} driver) answered:\n${vm.console().slice(-3000)}`);
    }
    const c = new CriClient(vm.target(driver));
    try {
      await c.rt('Version', { version: 'v1' }, { deadlineMs: 5000 });
      return new CriClient(vm.target(driver));
    } catch (err) {
      if (Date.now() > until) {
        throw new Error(`crimux (${driver} driver) in the node VM did not answer Version within ${timeoutMs} ms`, {
          cause: err,
        });
      }
    } finally {
      c.close();
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

export function tempWork(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-node-vm-'));
}
