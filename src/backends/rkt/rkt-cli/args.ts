/**
 * Command lines for a real rkt, ported from rktlet (runtime/helpers.go generateAppSandboxCommand and
 * generateAppAddCommand) with the CRI-logging annotations of its last release. Pure functions, table-tested.
 *
 * Differences from rktlet, each deliberate: --exec is always passed (the translation resolves the image's
 * entrypoint itself, so the argv is complete), --group joins --user, and the user annotations are sorted so the
 * command line is deterministic (Go map order was random).
 */
import type { AppSpec, SandboxOptions } from '../pod-manager';

export const LOGMODE_ANNOTATION = 'coreos.com/rkt/experiment/logmode';
export const LOG_DIR_ANNOTATION = 'coreos.com/rkt/experiment/kubernetes-log-dir';
export const LOG_PATH_ANNOTATION = 'coreos.com/rkt/experiment/kubernetes-log-path';

function kv(obj: Readonly<Record<string, string>>): string[] {
  return Object.keys(obj)
    .sort()
    .map((k) => `${k}=${obj[k] ?? ''}`);
}

/** `app sandbox …` (after `rkt`), writing the pod UUID to uuidFile. */
export function appSandboxArgs(opts: SandboxOptions, uuidFile: string, stage1Name: string): string[] {
  const cmd = ['sandbox', `--uuid-file-save=${uuidFile}`];
  if (opts.logDirectory) {
    cmd.push(`--annotation=${LOGMODE_ANNOTATION}=k8s-plain`, `--annotation=${LOG_DIR_ANNOTATION}=${opts.logDirectory}`);
  }
  if (stage1Name) cmd.push(`--stage1-name=${stage1Name}`);
  if (opts.hostname) cmd.push(`--hostname=${opts.hostname}`);
  for (const s of opts.dns?.servers ?? []) cmd.push(`--dns=${s}`);
  for (const s of opts.dns?.searches ?? []) cmd.push(`--dns-search=${s}`);
  for (const o of opts.dns?.options ?? []) cmd.push(`--dns-opt=${o}`);
  if (opts.network.kind === 'host') {
    cmd.push('--net=host', '--hosts-entry=host');
  } else {
    for (const p of opts.ports ?? []) cmd.push(`--port=${p.name}:${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}`);
    cmd.push(`--net=${opts.network.kind === 'rkt' ? opts.network.name : 'default'}`);
  }
  for (const a of kv(opts.userAnnotations)) cmd.push(`--user-annotation=${a}`);
  for (const l of kv(opts.userLabels)) cmd.push(`--user-label=${l}`);
  return cmd;
}

/** rktlet's cpuQuotaToMilliCores: quota/period in millicores, 0 when either is unset. */
export function milliCores(quota: number | undefined, period: number | undefined): number {
  if (!quota || !period || quota <= 0 || period <= 0) return 0;
  return Math.floor((quota * 1000) / period);
}

/** `app add UUID IMAGE …` (after `rkt`). */
export function appAddArgs(uuid: string, spec: AppSpec): string[] {
  const cmd = ['add', uuid, spec.image, `--name=${spec.name}`];
  for (const a of kv(spec.userAnnotations)) cmd.push(`--user-annotation=${a}`);
  for (const l of kv(spec.userLabels)) cmd.push(`--user-label=${l}`);
  for (const e of spec.environment) cmd.push(`--environment=${e}`);
  const r = spec.resources;
  if (r.cpuShares && r.cpuShares > 0) cmd.push(`--cpu-shares=${r.cpuShares}`);
  const mc = milliCores(r.cpuQuota, r.cpuPeriod);
  if (mc > 0) cmd.push(`--cpu=${mc}m`);
  if (r.memoryLimitBytes) cmd.push(`--memory=${r.memoryLimitBytes}`);
  if (r.oomScoreAdj) cmd.push(`--oom-score-adj=${r.oomScoreAdj}`);
  if (spec.capsRetain && spec.capsRetain.length > 0) cmd.push(`--caps-retain=${spec.capsRetain.join(',')}`);
  cmd.push(`--user=${spec.uid}`, `--group=${spec.gid}`);
  if (spec.supplementaryGids.length > 0) cmd.push(`--supplementary-gids=${spec.supplementaryGids.join(',')}`);
  if (spec.readOnlyRootfs) cmd.push('--readonly-rootfs=true');
  if (spec.workingDir) cmd.push(`--working-dir=${spec.workingDir}`);
  if (spec.logPath) {
    cmd.push('--stdin=stream', '--stdout=stream', '--stderr=stream', `--annotation=${LOG_PATH_ANNOTATION}=${spec.logPath}`);
  }
  for (const m of spec.mounts) {
    cmd.push(`--mnt-volume=name=${m.name},kind=host,source=${m.hostPath},target=${m.containerPath},readOnly=${m.readOnly}`);
  }
  const [exe, ...args] = spec.exec;
  if (exe !== undefined) cmd.push(`--exec=${exe}`);
  if (args.length > 0) cmd.push('--', ...args, '---');
  return cmd;
}
