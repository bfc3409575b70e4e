/**
 * Choosing the accelerator (notes §7). /dev/kvm existing — even KVM_CREATE_VM succeeding — proves nothing: on
 * nested hosts like this one every vCPU run aborts or hangs. So KVM counts only after a real boot probe: the
 * guest's /init prints VMPROBE-OK and powers off when booted with vmprobe=1, under a hard 5 s bound. The verdict
 * holds for one boot of the host (a reboot can load or drop kvm modules, change nesting), one guest build and one
 * qemu binary: it is cached under that key both in <stateDir>/accel.json and in a machine-wide per-boot file
 * (BOOT_CACHE, on the /run tmpfs), so neither a restart nor a second daemon on the same boot pays the probe again.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../log/logger';
import type { GuestArtefacts } from './guest';
import { hostTscKhz, type Accel } from './qemu';
import type { RecordFiles } from '../host';

export interface AccelChoice {
  readonly accel: Accel;
  /** What the probes said, for the log line and verbose status. */
  readonly reason: string;
  /** Wall time of the probe boot with the chosen accelerator (kernel to /init), ms. */
  readonly probeBootMs?: number;
  readonly key: string;
}

const KVM_PROBE_MS = 5_000;
/** Machine-wide, per boot (/run is a tmpfs); root-only like the rest of /run/crimux. */
const BOOT_CACHE = '/run/crimux/vm-accel.json';
const TCG_PROBE_MS = 60_000;

export async function chooseAccel(
  mode: 'auto' | 'kvm' | 'tcg',
  qemu: string,
  guest: GuestArtefacts,
  stateDir: string,
  files: RecordFiles,
  log: Logger,
): Promise<AccelChoice> {
  const key = `${bootId()}:${guest.buildId}:${qemu}:${mode}`;
  const cacheFile = path.join(stateDir, 'accel.json');
  for (const file of [cacheFile, BOOT_CACHE]) {
    try {
      const cached = JSON.parse(fs.readFileSync(file, 'utf8')) as AccelChoice;
      if (cached.key === key) return cached;
    } catch {
      // no cache there yet
    }
  }
  let choice: AccelChoice;
  if (mode === 'tcg') {
    const tcg = await probe(qemu, guest, 'tcg', TCG_PROBE_MS);
    choice = { accel: 'tcg', reason: 'configured', probeBootMs: tcg.ms, key };
  } else {
    const kvmOk = hasKvmDevice();
    const kvm = kvmOk ? await probe(qemu, guest, 'kvm', KVM_PROBE_MS) : { ok: false, ms: 0, why: 'no usable /dev/kvm' };
    if (kvm.ok) {
      choice = { accel: 'kvm', reason: 'kvm boot probe passed', probeBootMs: kvm.ms, key };
    } else {
      if (mode === 'kvm')
        log.warn('vm: accelerator kvm configured but the probe failed; using it anyway', { why: kvm.why });
      const tcg = mode === 'kvm' ? { ms: 0 } : await probe(qemu, guest, 'tcg', TCG_PROBE_MS);
      choice = { accel: mode === 'kvm' ? 'kvm' : 'tcg', reason: `kvm probe: ${kvm.why}`, probeBootMs: tcg.ms, key };
    }
  }
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify(choice));
  try {
    fs.mkdirSync(path.dirname(BOOT_CACHE), { recursive: true, mode: 0o711 });
    files.writeAtomicSync(BOOT_CACHE, JSON.stringify(choice), { mode: 0o600 });
  } catch (err) {
    log.debug('vm: per-boot accelerator cache not written', {
      error: err instanceof Error ? err.message : String(err),
    });
  }
  return choice;
}

/** The kernel's random ID of this boot; a constant where /proc does not offer it (the cache then keys on the rest). */
function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

function hasKvmDevice(): boolean {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Boot the guest with vmprobe=1 and a hard timeout; ok only for exit 0 with the marker on the console. */
function probe(
  qemu: string,
  guest: GuestArtefacts,
  accel: Accel,
  timeoutMs: number,
): Promise<{ ok: boolean; ms: number; why: string }> {
  const append = ['console=ttyS0', 'quiet', 'panic=-1', 'vmprobe=1'];
  const cpu = accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,tb-size=32', '-cpu', 'max'];
  if (accel === 'tcg') append.push(`tsc_early_khz=${hostTscKhz()}`, 'tsc=reliable');
  const args = [
    '-M',
    'microvm',
    ...cpu,
    '-m',
    '128M',
    '-nographic',
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-kernel',
    guest.kernel,
    '-initrd',
    guest.initrd,
    '-append',
    append.join(' '),
    '-serial',
    'stdio',
  ];
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, ms: Date.now() - t0, why: e.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - t0;
      const ok = code === 0 && out.includes('VMPROBE-OK');
      const why = ok
        ? `booted in ${ms} ms`
        : signal
          ? `${signal} after ${ms} ms`
          : `exit ${String(code)} after ${ms} ms`;
      resolve({ ok, ms, why: ok ? why : `${why}: ${lastLine(out)}` });
    });
  });
}

function lastLine(s: string): string {
  return s.trim().split('\n').slice(-1)[0]?.slice(0, 200) ?? '';
}
