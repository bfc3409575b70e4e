/**
 * The pod's parent cgroup for the built-in stage1, which writes cgroupfs paths. A kubelet with the systemd cgroup
 * driver (kubeadm's default) sends a slice such as `kubepods-burstable-pod<uid>.slice`; the pod then goes into
 * that slice's directory, where systemd keeps it (/kubepods.slice/kubepods-burstable.slice/…), so the kubelet's
 * pod limits and accounting cover it as they cover runc's scopes. A cgroupfs path is used as given.
 */
import { InvalidArgumentError } from '../../errors';
import { isSystemdSlice, sliceDir, validSliceName } from '../../host/systemd-cgroup';

export function stage1CgroupParent(parent: string): string {
  if (!isSystemdSlice(parent)) return parent;
  if (!validSliceName(parent)) {
    throw new InvalidArgumentError(`run pod sandbox: linux.cgroup_parent: "${parent}" is not a valid systemd slice`, {
      context: { field: 'linux.cgroup_parent' },
    });
  }
  return sliceDir(parent);
}
