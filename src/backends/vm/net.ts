/**
 * Pod networking for VMs (notes §5): the pod netns and its CNI attachment come from the daemon's one pod network
 * (src/network/pod-networking.ts) exactly as for runc; then, inside the netns, a tap device is wired to the CNI interface with tc mirred in both directions
 * (Kata's "tcfilter" model), qemu starts inside the netns with its NIC on the tap, and the guest takes over the
 * CNI interface's MAC and address. Nothing is bridged or NATed: the pod IP is reachable as with any backend.
 */
import { InternalError } from '../../errors';
import type * as cri from '../../cri/types';
import { execInNetns, type NetnsManager, type PodNetworking } from '../../network';

export const TAP = 'tap0';

export interface PodNet {
  netns: string;
  ip?: string;
  ips: string[];
  mac?: string;
  cidr?: string;
  gateway?: string;
}

export class VmNetwork {
  readonly netns: NetnsManager;

  constructor(readonly pod: PodNetworking) {
    this.netns = pod.netns;
  }

  /**
   * Phase 1 (fast): the netns with the tap qemu attaches to, so the VM can boot while CNI runs. Caller undoes with
   * teardown().
   */
  async prepare(id: string, config: cri.PodSandboxConfig, signal: AbortSignal): Promise<string> {
    if (await this.netns.exists(id)) await this.teardown(id, config, signal);
    const netns = await this.netns.create(id, { signal });
    await sh(netns, ['ip', 'tuntap', 'add', 'dev', TAP, 'mode', 'tap'], signal);
    await sh(netns, ['ip', 'link', 'set', TAP, 'up'], signal);
    return netns;
  }

  /** Phase 2: CNI ADD, then the mirred filters between the CNI interface and the tap. */
  async attach(id: string, netns: string, config: cri.PodSandboxConfig, signal: AbortSignal): Promise<PodNet> {
    const status = await this.pod.attach(id, config, netns, signal);
    const ifName = status.ifName || 'eth0';
    const v4 = status.result.ips?.find((i) => !i.address.includes(':')) ?? status.result.ips?.[0];
    // From netlink inside the netns: /sys/class/net shows the netns of whoever mounted sysfs (the node's), so
    // reading it there gave every VM pod the node's own eth0 MAC, and two VM pods could not reach each other.
    const mac = macOf(await sh(netns, ['ip', '-o', 'link', 'show', 'dev', ifName], signal), ifName);
    // One shell for the four tc calls: each nsenter costs a fork+exec on a busy host.
    const script = [
      [ifName, TAP],
      [TAP, ifName],
    ]
      .map(
        ([from, to]) =>
          `tc qdisc add dev ${from} ingress && tc filter add dev ${from} parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev ${to}`,
      )
      .join(' && ');
    // Everything that reaches one side leaves through the other, before the netns' own stack sees it.
    await sh(netns, ['sh', '-c', script], signal);
    return {
      netns,
      ip: status.ips[0],
      ips: [...status.ips],
      mac,
      cidr: v4?.address,
      gateway: v4?.gateway ?? status.gateways[0],
    };
  }

  /** A netns with just a tap (template VMs: same netdev type as pods, no CNI). */
  async scratch(name: string): Promise<{ path: string; remove: () => Promise<void> }> {
    if (await this.netns.exists(name)) await this.netns.remove(name);
    const netns = await this.netns.create(name);
    const remove = (): Promise<void> => this.netns.remove(netns);
    try {
      await sh(netns, ['ip', 'tuntap', 'add', 'dev', TAP, 'mode', 'tap'], AbortSignal.timeout(30_000));
    } catch (err) {
      await remove();
      throw err;
    }
    return { path: netns, remove };
  }

  /** CNI DEL and netns removal; idempotent. */
  async teardown(id: string, config: cri.PodSandboxConfig, signal?: AbortSignal): Promise<void> {
    // DEL even when the netns is gone: it releases the IPAM lease (plugins accept an empty CNI_NETNS).
    await this.pod.tearDown(id, config.metadata, signal);
  }

  async ready(): Promise<{ ready: boolean; message?: string }> {
    const st = await this.pod.status();
    return { ready: st.ready, message: st.message };
  }
}

/** The MAC in `ip -o link show` output ("… link/ether 82:27:b8:a2:2d:34 brd …"). */
export function macOf(ipLink: string, ifName: string): string {
  const mac = /link\/ether ([0-9a-f]{2}(?::[0-9a-f]{2}){5})/i.exec(ipLink)?.[1];
  if (!mac) throw new InternalError(`pod network: no MAC address on ${ifName}: ${ipLink.trim().slice(0, 200)}`);
  return mac.toLowerCase();
}

async function sh(netns: string, argv: string[], signal: AbortSignal): Promise<string> {
  const res = await execInNetns(netns, argv, { signal, timeoutMs: 30_000 });
  if (res.code !== 0) throw new InternalError(`pod network: ${argv.join(' ')}: ${res.stderr.trim()}`);
  return res.stdout;
}
