/**
 * Sysctls (cri-tools pkg/validate/pod_linux.go, "runtime should support sysctls"): a safe one
 * (kernel.shm_rmid_forced), an unsafe one of the IPC namespace (fs.mqueue.msg_max) and one of the network
 * namespace (net.ipv4.ip_unprivileged_port_start), each set on a pod of its own and read back from /proc/sys in
 * a container of that pod.
 */
import assert from 'node:assert/strict';
import { podLinux, type Spec, type Workload } from './workload';

async function sysctl(w: Workload, key: string, value: string): Promise<void> {
  const pod = await w.runPod('pod-sandbox-with-sysctls-', podLinux({ sysctls: { [key]: value } }));
  const id = await w.run(pod, `container-${key.replaceAll('.', '-').replaceAll('_', '-')}-`);
  const got = await w.execOk(id, ['cat', `/proc/sys/${key.replaceAll('.', '/')}`]);
  assert.equal(got.trim(), value);
}

export const SYSCTL_SPECS: readonly Spec[] = [
  { id: 'sysctl/safe', title: 'should support safe sysctls', run: (w) => sysctl(w, 'kernel.shm_rmid_forced', '1') },
  { id: 'sysctl/unsafe', title: 'should support unsafe sysctls', run: (w) => sysctl(w, 'fs.mqueue.msg_max', '100') },
  {
    id: 'sysctl/net',
    title: 'should support network sysctls',
    run: (w) => sysctl(w, 'net.ipv4.ip_unprivileged_port_start', '0'),
  },
];
