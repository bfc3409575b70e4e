/**
 * The host↔guest agent protocol, version 1 — shared by the host client (agent-client.ts) and the guest agent
 * (guest/main.ts), so both sides compile against one definition.
 *
 * Transport: one virtio-serial port named "agent"; qemu serves it as a unix socket on the host (<pod>/agent.sock).
 * Framing: UTF-8 newline-delimited JSON, one object per line. Binary payloads are base64 strings.
 *
 *   host → guest   Request   {id, op, ...args}            id: positive integer chosen by the host, unique per connection
 *   guest → host   Reply     {id, ok:true, ...result} | {id, ok:false, error}
 *   guest → host   Event     {ev, ...}                    no id: ready, output, exit, data, closed
 *   host → guest   Data      {op:"data"|"close", sid, ...} no id, no reply: bytes for an open stream (port-forward)
 *
 * The agent sends `ready` once when it starts (its write blocks until a host connects). A host that connects or
 * reconnects later (daemon restart, template clone) sends `ping` and reads `version` from the reply instead of
 * waiting for `ready`. Output and exit events produced while no host is connected are queued in the guest and
 * delivered on the next connection; exit state is also kept for `state` queries, so nothing is lost across a
 * crimux restart.
 *
 * Compatibility: the host refuses an agent whose PROTOCOL_VERSION differs (the build script bakes the agent into
 * the tools disk, so a mismatch means the guest artefacts were not rebuilt after an upgrade).
 */

import type { OciSpec } from '../../host/oci-spec';

export const PROTOCOL_VERSION = 3;

export interface ContainerSpec {
  readonly cid: string;
  /** SCSI serial of the hot-plugged rootfs disk ("ctr-<id prefix>"); the agent finds /dev/sdX by it. */
  readonly serial: string;
  readonly readonlyRootfs: boolean;
  /**
   * The OCI runtime spec the guest's runc runs, built by the host from the same policy as the runc backend
   * (src/host/container-policy.ts): process (args, env, cwd, user with supplementary groups, capabilities,
   * no_new_privs), mounts, masked/read-only paths, seccomp. The agent fills in only what exists in the guest:
   * root.path, linux.cgroupsPath, the pod PID namespace's path and, for privileged containers, the guest's devices.
   */
  readonly oci: OciSpec;
  /**
   * CRI devices (config.devices), by the name their node has on the host: the guest creates each at `path` with
   * its own kernel's numbers for the node of the same name, or refuses the create when its kernel has none.
   */
  readonly devices?: GuestDeviceRequest[];
  /** Join the pod's PID namespace (CRI namespace_options.pid=POD) instead of a new one of its own. */
  readonly podPid: boolean;
  /** Files written into the rootfs before start (e.g. /etc/resolv.conf, /etc/hosts), content base64. */
  readonly files?: { path: string; data: string; mode?: number; dir?: boolean }[];
  /** cgroup v2 memory.max in bytes; 0 = unlimited. */
  readonly memoryLimit?: number;
  /** cgroup v2 cpu.max quota and period in µs (CRI cpu_quota/cpu_period); quota 0 = unlimited. */
  readonly cpuQuota?: number;
  readonly cpuPeriod?: number;
  /** Keep the main process's stdin open for Attach (CRI ContainerConfig.stdin). */
  readonly stdin?: boolean;
}

export interface NetConf {
  readonly mac: string;
  readonly newMac: string;
  readonly cidr: string;
  readonly gateway?: string;
  readonly mtu?: number;
}

export type Request =
  | { id: number; op: 'ping' }
  /**
   * Hand a freshly booted or cloned VM to a pod: clock, entropy (base64), hostname, and (optionally) the NIC as in
   * netconf — one request and one guest process for all of it, which matters under TCG.
   */
  | {
      id: number;
      op: 'claim';
      timeMs: number;
      seed: string;
      hostname: string;
      net?: NetConf;
      /**
       * The pod's sysctls (dotted names), written in the guest's own namespaces: they are the pod's network and
       * IPC namespaces, which its containers share.
       */
      sysctls?: Record<string, string>;
    }
  /** Configure the NIC found by its current MAC (template) and give it the pod MAC and address. */
  | ({ id: number; op: 'netconf' } & NetConf)
  | { id: number; op: 'create'; spec: ContainerSpec }
  | { id: number; op: 'start'; cid: string }
  | { id: number; op: 'kill'; cid: string; signal: string }
  /** Signal, wait timeoutMs, then SIGKILL; replies when the container has exited. */
  | { id: number; op: 'stop'; cid: string; signal: string; timeoutMs: number }
  /** Unmounts the rootfs (the host then unplugs the disk). Idempotent. */
  | { id: number; op: 'remove'; cid: string }
  | { id: number; op: 'exec'; cid: string; args: string[]; env?: string[]; timeoutMs: number }
  | { id: number; op: 'state' }
  | { id: number; op: 'stats' }
  /** Open a TCP connection to 127.0.0.1:port inside the guest; bytes flow as data events/requests with `sid`. */
  | { id: number; op: 'connect'; port: number }
  /**
   * Interactive exec: like `exec` but streamed — output as `data` events (with `stream`), stdin as host `data`,
   * the end as a `closed` event with the exit code. With tty the process runs on a pty (vmhelper; without it
   * stderr is merged into stdout and resize is ignored).
   */
  | { id: number; op: 'spawn'; cid: string; args: string[]; stdin: boolean; tty: boolean }
  /** Resize a container's cgroup limits (UpdateContainerResources). */
  | { id: number; op: 'update'; cid: string; memoryLimit: number; cpuQuota?: number; cpuPeriod?: number }
  /** Template VMs only: exercise the claim/netconf/exec code paths once so clones start with them compiled. */
  | { id: number; op: 'warmup' }
  | { id: number; op: 'shutdown' };

/**
 * Stream data from the host (no reply): bytes for a stream's socket or stdin, its end (EOF), killing a spawned
 * process group, and a container main process's stdin (Attach).
 */
export type HostData =
  | { op: 'data'; sid: number; data: string }
  | { op: 'close'; sid: number }
  | { op: 'killStream'; sid: number }
  | { op: 'resize'; sid: number; rows: number; cols: number }
  | { op: 'stdin'; cid: string; data: string }
  | { op: 'stdinClose'; cid: string };

export type ContainerRunState = 'created' | 'running' | 'exited';

export interface ContainerState {
  readonly cid: string;
  readonly state: ContainerRunState;
  readonly pid?: number;
  /** Epoch milliseconds (guest clock, set by claim). */
  readonly createdAt: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly exitCode?: number;
  /** True when the stop escalated to SIGKILL. */
  readonly killed?: boolean;
  readonly oomKilled?: boolean;
}

export interface ContainerStatsReply {
  readonly cid: string;
  /** Cumulative CPU time in nanoseconds (cgroup v2 cpu.stat usage_usec × 1000). */
  readonly cpuNs: number;
  readonly memoryBytes: number;
  readonly workingSetBytes: number;
  /** Bytes used on the container's rootfs disk. */
  readonly fsUsedBytes: number;
  readonly fsInodesUsed: number;
}

export interface StatsReply {
  readonly cpuNs: number;
  readonly memTotalBytes: number;
  readonly memAvailableBytes: number;
  readonly containers: ContainerStatsReply[];
}

export interface ExecReply {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export type Event =
  | { ev: 'ready'; version: number; uptimeMs: number }
  | { ev: 'output'; cid: string; stream: 'stdout' | 'stderr'; data: string }
  | { ev: 'exit'; cid: string; exitCode: number; finishedAt: number; killed?: boolean; oomKilled?: boolean }
  | { ev: 'data'; sid: number; data: string; stream?: 'stdout' | 'stderr' }
  | { ev: 'closed'; sid: number; error?: string; exitCode?: number };

/** A CRI device for the guest: the node named `source` in the guest's /dev, put at `path` in the container. */
export interface GuestDeviceRequest {
  readonly source: string;
  readonly path: string;
  readonly type: 'c';
  readonly access: string;
  readonly fileMode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * A failed request carries the agent's message and, when the request itself cannot be honoured (as opposed to
 * the agent failing), `code: 'FailedPrecondition'` so the host answers the CRI call with that status.
 */
export type Reply =
  | { id: number; ok: true; [k: string]: unknown }
  | { id: number; ok: false; error: string; code?: 'FailedPrecondition' };

/**
 * Longest line either side accepts; bounds memory if the peer misbehaves. The longest legitimate one is an ExecSync
 * reply: up to 16 MiB of output (src/host/exec-output.ts), base64 in JSON (×4/3); stream chunks are ≤ 64 KiB raw.
 */
export const MAX_LINE_BYTES = 24 * 1024 * 1024;
