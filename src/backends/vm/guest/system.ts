/**
 * Whole-VM operations of the guest agent: claiming a (possibly cloned) VM for a pod, network configuration, stats
 * and TCP connections for port-forward.
 */
import fs from 'node:fs';
import type { ContainerStatsReply, StatsReply } from '../protocol';
import { cgroupDir } from './containers';
import { rootDir } from './rootfs';
import { bb } from './util';

/**
 * Clock, entropy and hostname for a VM that may be a clone of a template snapshot: clones resume with the
 * template's clock and CRNG state. The seed is mixed into the pool through /dev/urandom.
 * TODO(#6): force an immediate CRNG reseed (RNDRESEEDCRNG needs an ioctl Node cannot issue); until the kernel's
 * own reseed interval passes, clones of one template may share CRNG output.
 */
export async function claim(timeMs: number, seed: string, hostname: string): Promise<void> {
  fs.writeFileSync('/dev/urandom', Buffer.from(seed, 'base64'));
  await bb(['date', '-u', '-s', `@${Math.round(timeMs / 1000)}`]);
  await bb(['hostname', hostname]);
}

/** Find the NIC by its current MAC, give it the pod's MAC and address, default route via the gateway. */
export async function netconf(
  mac: string,
  newMac: string,
  cidr: string,
  gateway?: string,
  mtu?: number,
): Promise<string> {
  const want = mac.toLowerCase();
  const ifname = fs
    .readdirSync('/sys/class/net')
    .find((n) => fs.readFileSync(`/sys/class/net/${n}/address`, 'utf8').trim() === want);
  if (!ifname) throw new Error(`no interface with MAC ${mac}`);
  await bb(['ip', 'link', 'set', 'dev', ifname, 'down']);
  if (ifname !== 'eth0') await bb(['ip', 'link', 'set', 'dev', ifname, 'name', 'eth0']);
  await bb(['ip', 'link', 'set', 'dev', 'eth0', 'address', newMac.toLowerCase()]);
  if (mtu) await bb(['ip', 'link', 'set', 'dev', 'eth0', 'mtu', String(mtu)]);
  await bb(['ip', 'addr', 'flush', 'dev', 'eth0']);
  await bb(['ip', 'addr', 'add', cidr, 'dev', 'eth0']);
  await bb(['ip', 'link', 'set', 'dev', 'eth0', 'up']);
  if (gateway) await bb(['ip', 'route', 'replace', 'default', 'via', gateway, 'dev', 'eth0']);
  return 'eth0';
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
