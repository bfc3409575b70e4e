/**
 * Whole-VM operations of the guest agent: claiming a (possibly cloned) VM for a pod, network configuration, stats
 * and TCP connections for port-forward.
 */
import fs from 'node:fs';
import type { ContainerStatsReply, NetConf, StatsReply } from '../protocol';
import { cgroupDir } from './containers';
import { rootDir } from './rootfs';
import { bb, HELPER } from './util';

/**
 * Clock, entropy and hostname for a VM that may be a clone of a template snapshot: clones resume with the
 * template's clock and CRNG state. The seed is mixed into the input pool through /dev/urandom and `vmhelper
 * reseed` (RNDRESEEDCRNG) makes the CRNG take it at once.
 */
export async function claim(
  timeMs: number,
  seed: string,
  hostname: string,
  net?: NetConf,
  sysctls?: Record<string, string>,
): Promise<void> {
  fs.writeFileSync('/dev/urandom', Buffer.from(seed, 'base64'));
  // The pod's sysctls: the guest's network and IPC namespaces are the pod's, shared by its containers (the router
  // already allowed only namespaced sysctls, in dotted form). A failure fails RunPodSandbox, as runc would.
  for (const [k, v] of Object.entries(sysctls ?? {})) {
    try {
      fs.writeFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, v);
    } catch (e) {
      throw new Error(`sysctl ${k}=${v}: ${(e as Error).message}`, { cause: e });
    }
  }
  fs.writeFileSync('/proc/sys/kernel/hostname', hostname); // no process spawn: each costs tens of ms under TCG
  const steps = [`date -u -s @${Math.round(timeMs / 1000)} >/dev/null`, ...(net ? netSteps(net) : [])];
  // The seed is in the input pool; make the CRNG take it now rather than at its next scheduled reseed.
  // ENODATA while the CRNG is not yet initialised (then it reseeds on its own at every use): never fatal.
  // The outcome goes to the VM console (the pod's console.log) for debugging.
  if (fs.existsSync(HELPER)) {
    steps.unshift(`{ ${HELPER} reseed 2>/dev/console && echo 'agent: CRNG reseeded' >/dev/console || true; }`);
  }
  await bb(['sh', '-c', steps.join(' && ')]);
}

/** Find the NIC by its current MAC, give it the pod's MAC and address, default route via the gateway. */
export async function netconf(net: NetConf): Promise<string> {
  await bb(['sh', '-c', netSteps(net).join(' && ')]);
  return 'eth0';
}

/** Shell steps for netconf (one shell, one spawn: the applets run as busybox builtins of that shell). */
function netSteps(n: NetConf): string[] {
  const want = n.mac.toLowerCase();
  const ifname = fs
    .readdirSync('/sys/class/net')
    .find((i) => fs.readFileSync(`/sys/class/net/${i}/address`, 'utf8').trim() === want);
  if (!ifname) throw new Error(`no interface with MAC ${n.mac}`);
  const q = (v: string): string => `'${v.replace(/'/g, "'\\''")}'`;
  return [
    `ip link set dev ${q(ifname)} down`,
    ifname !== 'eth0' ? `ip link set dev ${q(ifname)} name eth0` : '',
    `ip link set dev eth0 address ${q(n.newMac.toLowerCase())}`,
    n.mtu ? `ip link set dev eth0 mtu ${n.mtu}` : '',
    'ip addr flush dev eth0',
    `ip addr add ${q(n.cidr)} dev eth0`,
    'ip link set dev eth0 up',
    n.gateway ? `ip route replace default via ${q(n.gateway)} dev eth0` : '',
  ].filter(Boolean);
}

export function stats(cids: string[]): StatsReply {
  const mem = meminfo();
  return {
    cpuNs: cpuUsageNs('/sys/fs/cgroup'),
    memTotalBytes: mem.MemTotal ?? 0,
    memAvailableBytes: mem.MemAvailable ?? 0,
    containers: cids.map(containerStats),
  };
}

function containerStats(cid: string): ContainerStatsReply {
  const cg = cgroupDir(cid);
  const memory = readNumber(`${cg}/memory.current`);
  const inactive = Number(/inactive_file (\d+)/.exec(readText(`${cg}/memory.stat`))?.[1] ?? 0);
  let fsUsedBytes = 0;
  let fsInodesUsed = 0;
  try {
    const s = fs.statfsSync(rootDir(cid));
    fsUsedBytes = (s.blocks - s.bfree) * s.bsize;
    fsInodesUsed = s.files - s.ffree;
  } catch {
    // not mounted (removed)
  }
  return {
    cid,
    cpuNs: cpuUsageNs(cg),
    memoryBytes: memory,
    workingSetBytes: Math.max(0, memory - inactive),
    fsUsedBytes,
    fsInodesUsed,
  };
}

function cpuUsageNs(cg: string): number {
  const m = /usage_usec (\d+)/.exec(readText(`${cg}/cpu.stat`));
  return m ? Number(m[1]) * 1000 : 0;
}

function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readText('/proc/meminfo').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m?.[1] && m[2]) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readNumber(file: string): number {
  const n = Number(readText(file).trim());
  return Number.isFinite(n) ? n : 0;
}

/**
 * Run, once, what claim/netconf/exec run (process spawns, busybox ip, JSON paths), in a template before it is
 * saved: the compiled JavaScript is part of the saved guest RAM, so clones answer their first requests sooner.
 */
export async function warmup(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await bb(['sh', '-c', 'ip link show >/dev/null && ip addr show >/dev/null && date >/dev/null']);
    stats([]);
  }
}
