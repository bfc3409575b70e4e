/**
 * Namespace options (cri-tools pkg/validate/security_context_linux.go, "NamespaceOption"): the host's PID, IPC
 * and network namespaces, a PID namespace shared by the pod, and one per container. Each spec has a pod of its
 * own (the options are the pod's), with the container asking for the same options, as the kubelet sends them.
 *
 * What the container sees is read from /proc, which is namespace-aware: /proc/<pid> of a node process,
 * /proc/sysvipc/shm for System V segments, /proc/net/tcp{,6} for listening sockets, /proc/1/cmdline for the
 * namespace's init.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { containerSecurity, podLinux, type Spec, type Workload } from './workload';

const run = promisify(execFile);

type Mode = 'POD' | 'CONTAINER' | 'NODE';
interface NamespaceOption {
  network?: Mode;
  pid?: Mode;
  ipc?: Mode;
}

/** upstream's createNamespacePodSandbox + createNamespaceContainer. */
async function namespacePod(w: Workload, ns: NamespaceOption, command: string[]) {
  const pod = await w.runPod('NamespaceOption-PodSandbox-', podLinux({ security_context: { namespace_options: ns } }));
  const id = await w.run(pod, 'namespace-container-', { command, ...containerSecurity({ namespace_options: ns }) });
  return { pod, id };
}

/** A marker no other process on the node has in its command line. */
const marker = (): string => `${Math.floor(1000 + Math.random() * 8000)}`;

async function hostIpc(w: Workload, mode: Mode): Promise<void> {
  const { stdout } = await run('ipcmk', ['-M', '1048576']);
  const segment = /(\d+)\s*$/.exec(stdout.trim())?.[1];
  assert.ok(segment, `ipcmk printed ${stdout}`);
  try {
    const { id } = await namespacePod(w, { pid: 'POD', ipc: mode, network: 'POD' }, ['sleep', '1000']);
    const shmids = (await w.execOk(id, ['cat', '/proc/sysvipc/shm']))
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/)[1]);
    assert.equal(
      shmids.includes(segment),
      mode === 'NODE',
      `segment ${segment} in the container's list: ${shmids.join(',')}`,
    );
  } finally {
    await run('ipcrm', ['-m', segment]).catch(() => undefined);
  }
}

/** Ports in LISTEN state (st 0A) that the container's network namespace shows. */
async function listeningPorts(w: Workload, id: string): Promise<number[]> {
  const r = await w.exec(id, ['sh', '-c', 'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[3] === '0A')
    .map((f) => parseInt(f[1]?.split(':')[1] ?? '', 16));
}

async function hostNetwork(w: Workload, network: Mode): Promise<void> {
  const srv = net.createServer((c) => c.end('hello'));
  await new Promise<void>((resolve) => srv.listen(0, resolve));
  try {
    const port = (srv.address() as net.AddressInfo).port;
    const { id } = await namespacePod(w, { pid: 'POD', ipc: 'POD', network }, ['sleep', '1000']);
    const ports = await listeningPorts(w, id);
    assert.equal(
      ports.includes(port),
      network === 'NODE',
      `node port ${port} among the container's listeners: ${ports.join(',')}`,
    );
  } finally {
    srv.close();
  }
}

export const NAMESPACE_SPECS: readonly Spec[] = [
  {
    id: 'namespace/host-pid',
    title: 'runtime should support HostPID',
    async run(w) {
      const { id } = await namespacePod(w, { pid: 'NODE', ipc: 'POD', network: 'POD' }, ['sleep', '1000']);
      // The crimux daemon is a node process: only the node's PID namespace shows it, under its node PID.
      const cmdline = await w.execOk(id, ['cat', `/proc/${w.c.daemon.pid()}/cmdline`]);
      assert.match(cmdline, /crimux|main\.ts/);
    },
  },
  { id: 'namespace/host-ipc-true', title: 'runtime should support HostIpc is true', run: (w) => hostIpc(w, 'NODE') },
  { id: 'namespace/host-ipc-false', title: 'runtime should support HostIpc is false', run: (w) => hostIpc(w, 'POD') },
  {
    id: 'namespace/pod-pid',
    title: 'runtime should support PodPID',
    async run(w) {
      const m = marker();
      const { id } = await namespacePod(w, { pid: 'POD' }, ['sleep', `${m}0`]);
      // PID 1 is the pod's (its sandbox), not this container's command.
      const init = await w.execOk(id, ['cat', '/proc/1/cmdline']);
      assert.doesNotMatch(init, new RegExp(`${m}0`));
      assert.match(await w.execOk(id, ['ps']), new RegExp(`sleep ${m}0`));
    },
  },
  {
    id: 'namespace/container-pid',
    title: 'runtime should support ContainerPID',
    async run(w) {
      const m = marker();
      const { id } = await namespacePod(w, { pid: 'CONTAINER' }, ['sleep', `${m}1`]);
      assert.match(await w.execOk(id, ['cat', '/proc/1/cmdline']), new RegExp(`sleep\\x00${m}1`));
    },
  },
  {
    id: 'namespace/host-network-true',
    title: 'runtime should support HostNetwork is true',
    run: (w) => hostNetwork(w, 'NODE'),
  },
  {
    id: 'namespace/host-network-false',
    title: 'runtime should support HostNetwork is false',
    run: (w) => hostNetwork(w, 'POD'),
  },
];
