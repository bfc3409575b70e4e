/**
 * The systemd cgroup driver's naming, as runc (`--systemd-cgroup`), containerd (SystemdCgroup) and the kubelet
 * (cgroupDriver: systemd) use it:
 *   - a pod's parent is a slice, e.g. `kubepods-burstable-pod<uid>.slice`; dashes nest, so its directory is
 *     /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice;
 *   - a container's OCI cgroupsPath is "slice:prefix:name" and becomes the transient scope `<prefix>-<name>.scope`
 *     in that slice (containerd uses prefix "cri-containerd", crimux "crimux").
 * Pure string functions, shared by the runc backend (what to put in the spec) and the cgroup layer (where to read).
 */
import { existsSync } from 'node:fs';

/** Scope prefix of crimux's containers ("crimux-<id>.scope"), as containerd's "cri-containerd". */
export const SYSTEMD_SCOPE_PREFIX = 'crimux';

/** Whether a cgroup_parent names a systemd slice rather than a cgroupfs path. */
export function isSystemdSlice(parent: string): boolean {
  return /^[^/]*\.slice$/.test(parent);
}

/** Unit names allowed as slices: what systemd accepts, no path separators, no empty dash components. */
export function validSliceName(slice: string): boolean {
  if (slice === '-.slice') return true;
  if (!/^[A-Za-z0-9:_.\\-]+\.slice$/.test(slice)) return false;
  const base = slice.slice(0, -'.slice'.length);
  return base.length > 0 && !base.startsWith('-') && !base.endsWith('-') && !base.includes('--');
}

/** A slice's directory below the hierarchy root: a-b-c.slice → /a.slice/a-b.slice/a-b-c.slice (-.slice is /). */
export function sliceDir(slice: string): string {
  if (slice === '-.slice' || slice === '') return '/';
  const base = slice.slice(0, -'.slice'.length);
  const parts = base.split('-');
  let dir = '';
  for (let i = 1; i <= parts.length; i++) dir += `/${parts.slice(0, i).join('-')}.slice`;
  return dir;
}

/** The OCI cgroupsPath of a container in a slice, for runc --systemd-cgroup. */
export function systemdCgroupsPath(slice: string, id: string, prefix = SYSTEMD_SCOPE_PREFIX): string {
  return `${slice}:${prefix}:${id}`;
}

/**
 * The directory a systemd-form cgroupsPath names ("slice:prefix:name" → <slice dir>/<prefix>-<name>.scope, a bare
 * slice → its directory); undefined for cgroupfs paths.
 */
export function systemdCgroupDir(cgroupsPath: string): string | undefined {
  if (isSystemdSlice(cgroupsPath)) return sliceDir(cgroupsPath);
  const m = /^([^/:]*):([^/:]*):([^/:]+)$/.exec(cgroupsPath);
  if (!m) return undefined;
  const [, slice, prefix, name] = m as unknown as [string, string, string, string];
  // runc: a name that already ends in .slice makes the container a slice of its own, else a scope.
  const unit = name.endsWith('.slice') ? name : `${prefix ? `${prefix}-` : ''}${name}.scope`;
  const parent = sliceDir(slice || 'system.slice');
  return `${parent === '/' ? '' : parent}/${unit}`;
}

/** sd_booted(): systemd is PID 1 when it created /run/systemd/system (the check runc and containerd make too). */
export function systemdBooted(runDir = '/run/systemd/system'): boolean {
  return existsSync(runDir);
}
