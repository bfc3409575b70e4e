/**
 * Devices (cri-tools pkg/validate/container.go, "runtime should support adding volume and device"): a host
 * device node appears at the requested path as the same device (its numbers name it in the container's kernel,
 * checked through /sys/dev/char), and its cgroup permissions hold — "rwm" opens it
 * for reading and writing, "r" for reading only. The device is the node's /dev/cpu_dma_latency: every Linux node
 * has it, reading it is harmless (the current PM QoS latency, 4 bytes), a write lasts only while the file is
 * open, and — unlike /dev/zero or /dev/null — no runtime allows it by default, so only the requested rule can.
 * Container-level only, so they share the default pod.
 */
import assert from 'node:assert/strict';
import { defaultPod } from './security-user';
import type { Spec, Workload } from './workload';

const HOST_DEVICE = '/dev/cpu_dma_latency';
const DEVICE = '/dev/crimux-conformance';

async function device(w: Workload, permissions: string): Promise<void> {
  const pod = await defaultPod(w);
  const id = await w.run(pod, 'container-with-device-test-', {
    devices: [{ host_path: HOST_DEVICE, container_path: DEVICE, permissions }],
  });
  // The node must be the kernel's cpu_dma_latency: its numbers name that device in the kernel the container runs
  // on (the node's for runc, docker and rkt; the guest's for vm, whose misc minors are its own).
  const listing = await w.execOk(id, ['ls', '-l', DEVICE]);
  const nums = /^c.* (\d+), +(\d+) /.exec(listing);
  assert.ok(nums, `not a character device: ${listing}`);
  const uevent = await w.execOk(id, ['cat', `/sys/dev/char/${nums[1]}:${nums[2]}/uevent`]);
  assert.match(uevent, /^DEVNAME=cpu_dma_latency$/m);
  assert.match(await w.execOk(id, ['sh', '-c', `head -c 4 ${DEVICE} | wc -c`]), /^\s*4\n$/);
  const write = await w.exec(id, ['sh', '-c', `echo 1000000 > ${DEVICE}`]);
  if (permissions.includes('w')) assert.equal(write.code, 0, write.stderr);
  else {
    assert.notEqual(write.code, 0, 'wrote to a device given read-only');
    assert.match(write.stderr, /not permitted/i);
  }
}

export const DEVICE_SPECS: readonly Spec[] = [
  { id: 'device/rwm', title: 'runtime should support starting container with a device', run: (w) => device(w, 'rwm') },
  { id: 'device/read-only', title: 'runtime should honour read-only device permissions', run: (w) => device(w, 'r') },
];
