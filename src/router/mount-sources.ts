/**
 * Which host paths a container mount may never use as its source: crimux's own directories (CRI socket, state,
 * run dir, image store, runtime roots, the docker socket…) plus the operator's `security.mountSourceDenyList`.
 *
 * A string prefix test is not enough (issue #19): `/`, `/run` or `/var/lib` contain the socket and the state, and
 * `/var/run/crimux` or any symlink reaches them under another name. So a source is refused when, after resolving
 * symlinks on both sides, it is equal to, inside, or an ANCESTOR of a protected path.
 *
 * What stays allowed is what the kubelet mounts for ordinary pods: /var/lib/kubelet/pods/<uid>/… (volumes,
 * etc-hosts, termination logs), /dev, /sys, /proc sub-paths, /etc files, /var/log… — none of them contains a
 * crimux path. containerd and CRI-O refuse none of these (they rely on the kubelet and admission for hostPath
 * policy), so this check is stricter than theirs; a pod that mounts the host root (node-exporter style `/`) is
 * refused here and must do without, or the operator moves crimux's dirs out of what it needs.
 *
 * NOTE: the resolution happens at validation time; a path component that the host changes between this check and
 * the runtime's mount is not covered (the sources come from the kubelet, which creates them root-owned).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import type { Config } from '../config/types';

/** Whether `p` is `dir` or inside it (purely lexical, on normalised absolute paths). */
export function isUnder(p: string, dir: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The real path of `p`, also when it (or a tail of it) does not exist yet: the longest existing prefix is
 * resolved and the rest appended, so a not-yet-created child of a symlinked dir still resolves through the link.
 */
export function resolveExisting(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync.native(cur), ...rest.reverse());
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** crimux's own host paths that no container may reach, plus the operator's deny-list. */
export function protectedHostPaths(config: Config): string[] {
  const out = new Set<string>([
    ...config.security.mountSourceDenyList,
    config.socket.path,
    config.stateDir,
    config.runDir,
    config.network.netnsDir,
    // The backends' own host paths: Docker's socket, the VM guest's kernel and initrd.
    config.backends.docker.socket,
    config.backends.vm.guestDir,
  ]);
  for (const h of Object.values(config.handlers)) {
    const root = (h.options as Record<string, unknown> | undefined)?.runtimeRoot;
    if (typeof root === 'string' && path.isAbsolute(root)) out.add(root);
  }
  return [...out].filter((p) => path.isAbsolute(p));
}

/** The protected path `hostPath` conflicts with (as written and after resolving symlinks), if any. */
export function protectedConflict(hostPath: string, protectedPaths: readonly string[]): string | undefined {
  const sources = new Set([path.resolve(hostPath), resolveExisting(hostPath)]);
  for (const denied of protectedPaths) {
    const forms = new Set([path.resolve(denied), resolveExisting(denied)]);
    for (const s of sources) {
      for (const d of forms) if (isUnder(s, d) || isUnder(d, s)) return denied;
    }
  }
  return undefined;
}

/** Refuses a mount source that is, contains, or resolves into a protected path; InvalidArgument naming `field`. */
export function checkMountSource(field: string, hostPath: string, protectedPaths: readonly string[]): void {
  const denied = protectedConflict(hostPath, protectedPaths);
  if (denied === undefined) return;
  const how = isUnder(denied, resolveExisting(hostPath)) ? 'contains' : 'is inside';
  throw new InvalidArgumentError(
    `validate ${field}: ${hostPath} ${how} ${denied}, which no container may mount (crimux's own paths and ` +
      'security.mountSourceDenyList, after resolving symlinks)',
    { context: { field } },
  );
}
