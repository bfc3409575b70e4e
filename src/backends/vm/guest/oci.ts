/**
 * runc inside the guest: the OCI bundle of a container (the host's spec plus what only the guest knows), the
 * pod's shared PID namespace, the guest's devices for privileged containers and the guest's nodes of requested
 * CRI devices. runc and libseccomp come from the
 * host's Debian packages on the tools disk (scripts/build-vm-guest.sh), so capabilities, seccomp, no_new_privs,
 * masked/read-only paths and supplementary groups behave exactly as with the runc backend on the host.
 *
 * NOTE: runc runs with --no-pivot: the guest root is the initramfs (rootfs), where pivot_root is impossible; runc
 *       then moves the container root over / in the container's mount namespace and chroots (MS_MOVE). The VM is
 *       the pod boundary; containers of one pod are separated by namespaces as on the host.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { OciDevice, OciDeviceCgroup, OciSpec } from '../../../host/oci-spec';
import type { ContainerSpec } from '../protocol';
import { BUSYBOX, HELPER, Refusal, sleep } from './util';

export const RUNC = '/tools/usr/bin/runc';
export const RUNC_ROOT = '/run/runc';

export function bundleDir(cid: string): string {
  return `/run/c/${cid}`;
}

/** The guest's nodes for the container's CRI devices, with their cgroup rules. */
export interface GuestDevices {
  readonly devices: OciDevice[];
  readonly rules: OciDeviceCgroup[];
}

/**
 * Finds each requested device in the guest's /dev by the name the host gave (the host checked the CRI rules and
 * that the host node is a character device): kernel-provided nodes (/dev/null, /dev/cpu_dma_latency, …) exist
 * in the guest too, but with the guest kernel's numbers (misc minors are assigned at boot), so the numbers are
 * the guest's. A node the guest kernel lacks refuses the create: it would be a different device, or none.
 */
export function requestedGuestDevices(spec: ContainerSpec): GuestDevices {
  const out = { devices: [] as OciDevice[], rules: [] as OciDeviceCgroup[] };
  for (const d of spec.devices ?? []) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(d.source);
    } catch {
      st = undefined;
    }
    if (!st?.isCharacterDevice()) {
      throw new Refusal(`device ${d.source}: the VM's kernel has no such character device to give the container`);
    }
    const { major, minor } = numbersOf(st.rdev);
    out.devices.push({
      type: 'c',
      path: d.path,
      major,
      minor,
      fileMode: d.fileMode ?? st.mode & 0o777,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    });
    out.rules.push({ allow: true, type: 'c', major, minor, access: d.access });
  }
  return out;
}

/** Writes config.json; `root` is the mounted rootfs, `cgroup` the container's cgroup (absent without cgroups). */
export async function writeBundle(
  spec: ContainerSpec,
  root: string,
  cgroup: string | undefined,
  requested: GuestDevices,
): Promise<void> {
  const oci: OciSpec = structuredClone(spec.oci);
  oci.root = { ...oci.root, path: root };
  // The leaf below the agent's cgroup: runc removes its cgroup when the container exits, while the agent keeps
  // the parent (limits, stats and memory.events, which count the leaf's OOM kills) until remove.
  if (cgroup) oci.linux.cgroupsPath = `${cgroup}/ctr`;
  if (spec.podPid) {
    const pid = await podPidNamespace();
    oci.linux.namespaces = oci.linux.namespaces.map((n) =>
      n.type === 'pid' ? { type: 'pid', path: `/proc/${pid}/ns/pid` } : n,
    );
  }
  if (oci.linux.resources?.devices?.some((d) => d.allow && !d.type && !d.major)) oci.linux.devices = guestDevices();
  else if (requested.devices.length > 0) {
    oci.linux.devices = [...(oci.linux.devices ?? []), ...requested.devices];
    oci.linux.resources = {
      ...oci.linux.resources,
      devices: [...(oci.linux.resources?.devices ?? []), ...requested.rules],
    };
  }
  fs.writeFileSync(path.join(bundleDir(spec.cid), 'config.json'), JSON.stringify(oci));
}

let podPid: Promise<number> | undefined;

/**
 * PID 1 of the pod's shared PID namespace, started on first use: `vmhelper pause` (reaps orphans), or a busybox
 * sleep loop when the guest was built without the helper.
 */
function podPidNamespace(): Promise<number> {
  podPid ??= (async () => {
    const init = fs.existsSync(HELPER) ? [HELPER, 'pause'] : [BUSYBOX, 'sh', '-c', 'while :; do sleep 3600; done'];
    const child = spawn(BUSYBOX, ['unshare', '-p', '-f', ...init], { stdio: 'ignore', detached: true });
    child.unref();
    for (let i = 0; i < 500 && child.pid !== undefined; i++) {
      try {
        const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
        if (kids) return Number(kids.split(/\s+/)[0]);
      } catch {
        break;
      }
      await sleep(10);
    }
    podPid = undefined;
    throw new Error('cannot start the pod PID namespace');
  })();
  return podPid;
}

/** Every device node of the guest's /dev, for privileged containers (the guest's, never the host's). */
function guestDevices(): OciDevice[] {
  const out: OciDevice[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (depth < 3 && !(dir === '/dev' && ['pts', 'shm', 'mqueue', 'fd'].includes(e.name))) walk(p, depth + 1);
      } else if ((e.isCharacterDevice() || e.isBlockDevice()) && p !== '/dev/console') {
        const st = fs.statSync(p);
        out.push({
          type: e.isCharacterDevice() ? 'c' : 'b',
          path: p,
          ...numbersOf(st.rdev),
          fileMode: st.mode & 0o7777,
          uid: st.uid,
          gid: st.gid,
        });
      }
    }
  };
  walk('/dev', 0);
  return out;
}

/** Major and minor of a device number (glibc's encoding of dev_t). */
function numbersOf(rdev: number): { major: number; minor: number } {
  return { major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00) };
}

/** The container's init pid from runc's state file, once runc created it (undefined when runc exited first). */
export async function runcInitPid(cid: string, runc: { exitCode: number | null }): Promise<number | undefined> {
  for (let i = 0; i < 3000; i++) {
    try {
      const st = JSON.parse(fs.readFileSync(`${RUNC_ROOT}/${cid}/state.json`, 'utf8')) as { init_process_pid?: number };
      if (st.init_process_pid) return st.init_process_pid;
    } catch {
      // not written yet
    }
    if (runc.exitCode !== null) return undefined;
    await sleep(10);
  }
  return undefined;
}

/** Wait until `pid` runs the container's own program (runc init exec'd it), or has exited. */
export async function execed(pid: number): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    try {
      // runc init runs from a memfd copy of runc ("/memfd:runc_cloned:…"), then execs the container's program.
      if (!fs.readlinkSync(`/proc/${pid}/exe`).includes('runc')) return;
    } catch {
      return; // exited: the exit event reports it
    }
    await sleep(10);
  }
}

/** The last error runc logged for a container (its --log file, JSON lines), for a failed start. */
export function runcError(cid: string): string | undefined {
  try {
    const lines = fs
      .readFileSync(path.join(bundleDir(cid), 'runc.log'), 'utf8')
      .trim()
      .split('\n');
    for (const l of lines.reverse()) {
      const m = JSON.parse(l) as { level?: string; msg?: string };
      if (m.level === 'error' && m.msg) return m.msg;
    }
  } catch {
    // no log
  }
  return undefined;
}
