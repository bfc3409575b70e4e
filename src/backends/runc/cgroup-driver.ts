/**
 * The runc backend's cgroup driver (`backends.runc.cgroupDriver`), as containerd's SystemdCgroup option:
 *   cgroupfs  pod parents are cgroupfs paths (/kubepods/burstable/pod<uid>); containers get <parent>/<id>.
 *   systemd   pod parents are slices (kubepods-burstable-pod<uid>.slice, the kubelet's cgroupDriver: systemd
 *             naming); containers get the cgroupsPath "<slice>:crimux:<id>", which runc --systemd-cgroup turns
 *             into the transient unit crimux-<id>.scope in that slice.
 * The kubelet must use the same driver (it asks RuntimeConfig since 1.28): a mismatched parent is refused here
 * with a message naming the setting, never silently reinterpreted.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../../errors';
import type { CgroupLayer } from '../../host/cgroup';
import { runCommand } from '../../host/process';
import { isSystemdSlice, systemdBooted, systemdCgroupsPath, validSliceName } from '../../host/systemd-cgroup';

export type CgroupDriver = 'cgroupfs' | 'systemd';

/** Runtime flags the driver needs on every runc call (create, start, kill, update, delete, exec). */
export function driverRuntimeArgs(driver: CgroupDriver): string[] {
  return driver === 'systemd' ? ['--systemd-cgroup'] : [];
}

/**
 * Start-up check: the systemd driver needs systemd as PID 1 (runc asks it over D-Bus to create every scope).
 * `booted` is injectable for tests.
 */
export function checkCgroupDriver(driver: CgroupDriver, booted = systemdBooted()): void {
  if (driver === 'systemd' && !booted) {
    throw new FailedPreconditionError(
      'backends.runc.cgroupDriver is "systemd" but systemd is not PID 1 on this host (no /run/systemd/system): ' +
        'use cgroupDriver "cgroupfs" here, and configure the kubelet with cgroupDriver: cgroupfs to match',
    );
  }
}

/**
 * The pod's cgroup parent: the kubelet's `requested` one, checked against the driver, or one crimux creates and
 * owns (from `base`, backends.runc.cgroupParent) when the request has none.
 */
export function podCgroupParent(
  driver: CgroupDriver,
  base: string,
  id: string,
  requested: string,
): { parent: string; owned: boolean } {
  const field = 'run pod sandbox: config.linux.cgroup_parent';
  if (driver === 'systemd') {
    if (!requested) {
      // A slice of crimux's own per pod: "<base>-pod<id>.slice" nests in <base>.slice (default crimux.slice).
      const b = isSystemdSlice(base) && base !== '-.slice' ? base.slice(0, -'.slice'.length) : 'crimux';
      return { parent: `${b}-pod${id}.slice`, owned: true };
    }
    if (!isSystemdSlice(requested)) {
      throw new InvalidArgumentError(
        `${field}: "${requested}" is a cgroupfs path, but backends.runc.cgroupDriver is "systemd": the kubelet ` +
          'must use cgroupDriver: systemd too (slices such as kubepods-burstable-pod<uid>.slice)',
      );
    }
    if (!validSliceName(requested)) {
      throw new InvalidArgumentError(`${field}: "${requested}" is not a valid systemd slice name`);
    }
    return { parent: requested, owned: false };
  }
  if (!requested) return { parent: `${base.replace(/\/+$/, '')}/${id}`, owned: true };
  if (isSystemdSlice(requested)) {
    throw new InvalidArgumentError(
      `${field}: "${requested}" is a systemd slice, but backends.runc.cgroupDriver is "cgroupfs": set it to ` +
        '"systemd" to match a kubelet with cgroupDriver: systemd (systemd must be PID 1)',
    );
  }
  if (!requested.startsWith('/') || requested.split('/').includes('..')) {
    throw new InvalidArgumentError(`${field}: "${requested}" must be an absolute cgroupfs path without ".."`);
  }
  return { parent: requested.replace(/\/+$/, ''), owned: false };
}

/** The OCI cgroupsPath of a container (or the pause container) with this parent; the form follows the parent's. */
export function containerCgroupsPath(parent: string, id: string): string {
  return isSystemdSlice(parent) ? systemdCgroupsPath(parent, id) : `${parent}/${id}`;
}

/**
 * Removes a pod cgroup crimux created. A slice is a systemd unit: it is stopped through systemd first (else systemd
 * keeps it listed as active), then any directory left is removed. Best effort; returns what stayed behind.
 */
export async function removePodCgroup(cgroups: CgroupLayer, parent: string): Promise<string[]> {
  if (isSystemdSlice(parent)) {
    await runCommand('systemctl', ['stop', parent], { timeoutMs: 10_000 }).catch(() => undefined);
  }
  return cgroups.remove(parent);
}
