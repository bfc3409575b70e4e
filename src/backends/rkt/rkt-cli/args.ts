/**
 * Command lines for a real rkt, ported from rktlet (runtime/helpers.go generateAppSandboxCommand and
 * generateAppAddCommand) with the CRI-logging annotations of its last release. Pure functions, table-tested.
 *
 * Differences from rktlet, each deliberate: --exec is always passed (the translation resolves the image's
 * entrypoint itself, so the argv is complete), --group joins --user, and the user annotations are sorted so the
 * command line is deterministic (Go map order was random).
 *
 * Nothing from a request may change the meaning of these command lines (issue #19): every value sits in a
 * `--flag=value` word (pflag never reads such a value as an option), a positional that could look like an option
 * is refused, and so is a value holding the separator of its own flag's syntax (`,` and `=` in --mnt-volume, `=` in an
 * annotation key, "---" among the exec args, a newline in an env entry of rkt's line-based env file).
 */
import { InvalidArgumentError } from '../../../errors';
import type { AppSpec, SandboxOptions } from '../pod-manager';

export const LOGMODE_ANNOTATION = 'coreos.com/rkt/experiment/logmode';
export const LOG_DIR_ANNOTATION = 'coreos.com/rkt/experiment/kubernetes-log-dir';
export const LOG_PATH_ANNOTATION = 'coreos.com/rkt/experiment/kubernetes-log-path';

function kv(obj: Readonly<Record<string, string>>, field: string): string[] {
  return Object.keys(obj)
    .sort()
    .map((k) => {
      if (!k || k.includes('=')) throw new InvalidArgumentError(`rkt: ${field} key "${k}" is empty or contains "="`);
      return `${k}=${obj[k] ?? ''}`;
    });
}

/** A positional word of an rkt command line: never one rkt's flag parser could take for an option. */
function positional(value: string, field: string): string {
  if (!value || value.startsWith('-'))
    throw new InvalidArgumentError(`rkt: ${field} "${value}" must not be empty or begin with "-"`);
  return value;
}

/** One value of --mnt-volume's "k=v,k=v" syntax: its separators would add or override keys. */
function volumeValue(value: string, field: string): string {
  if (!value || /[,=\n]/.test(value)) {
    throw new InvalidArgumentError(
      `rkt: ${field} "${value}" must not be empty or contain ",", "=" or a newline (rkt's --mnt-volume syntax)`,
    );
  }
  return value;
}

function envEntry(e: string): string {
  if (e.indexOf('=') <= 0 || /[\0\n]/.test(e)) {
    throw new InvalidArgumentError(
      `rkt: environment entry "${e.slice(0, 64)}" must be NAME=value without a newline or NUL`,
    );
  }
  return e;
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
  for (const a of kv(opts.userAnnotations, 'pod annotation')) cmd.push(`--user-annotation=${a}`);
  for (const l of kv(opts.userLabels, 'pod label')) cmd.push(`--user-label=${l}`);
  return cmd;
}

/** rktlet's cpuQuotaToMilliCores: quota/period in millicores, 0 when either is unset. */
export function milliCores(quota: number | undefined, period: number | undefined): number {
  if (!quota || !period || quota <= 0 || period <= 0) return 0;
  return Math.floor((quota * 1000) / period);
}

/** `app add UUID IMAGE …` (after `rkt`). */
export function appAddArgs(uuid: string, spec: AppSpec): string[] {
  const cmd = ['add', positional(uuid, 'pod uuid'), positional(spec.image, 'image'), `--name=${spec.name}`];
  for (const a of kv(spec.userAnnotations, 'container annotation')) cmd.push(`--user-annotation=${a}`);
  for (const l of kv(spec.userLabels, 'container label')) cmd.push(`--user-label=${l}`);
  for (const e of spec.environment) cmd.push(`--environment=${envEntry(e)}`);
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
    cmd.push(
      '--stdin=stream',
      '--stdout=stream',
      '--stderr=stream',
      `--annotation=${LOG_PATH_ANNOTATION}=${spec.logPath}`,
    );
  }
  spec.mounts.forEach((m, i) => {
    const name = volumeValue(m.name, `mounts[${i}] name`);
    const source = volumeValue(m.hostPath, `mounts[${i}].host_path`);
    const target = volumeValue(m.containerPath, `mounts[${i}].container_path`);
    cmd.push(`--mnt-volume=name=${name},kind=host,source=${source},target=${target},readOnly=${m.readOnly}`);
  });
  const [exe, ...args] = spec.exec;
  if (exe !== undefined) cmd.push(`--exec=${exe}`);
  // rkt reads the exec args up to "---": one of them being "---" would end the list and make the rest rkt's.
  if (args.includes('---'))
    throw new InvalidArgumentError('rkt: command/args must not contain "---" (it ends rkt\'s exec arguments)');
  if (args.length > 0) cmd.push('--', ...args, '---');
  return cmd;
}
