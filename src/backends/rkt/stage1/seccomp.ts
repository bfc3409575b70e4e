/**
 * An app's seccomp filter in the built-in stage1: the OCI seccomp section crimux computes for every backend
 * (src/host/seccomp.ts: the CRI choice, the shipped RuntimeDefault profile, capability conditionals) rendered as
 * the line format crimux-stage1 compiles with libseccomp just before the app's exec (src/host/native/
 * crimux-stage1.c documents it). Text rather than JSON so the static helper needs no parser; every token is
 * checked here, so a profile can never smuggle a directive in.
 */
import { InvalidArgumentError } from '../../../errors';
import type { OciSeccomp } from '../../../host/oci-spec';

const ACTIONS = new Set([
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_LOG',
]);
const OPS = new Set([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);
/** EPERM: what runc and containerd return for SCMP_ACT_ERRNO without errnoRet. */
const DEFAULT_ERRNO = 1;

function action(a: string, errno: number | undefined, where: string): string {
  if (!ACTIONS.has(a)) throw new InvalidArgumentError(`seccomp profile: ${where}: unsupported action "${a}"`);
  const e = errno ?? DEFAULT_ERRNO;
  if (!Number.isInteger(e) || e < 0 || e > 4095)
    throw new InvalidArgumentError(`seccomp profile: ${where}: errnoRet ${e} is out of range`);
  return `${a} ${e}`;
}

function u64(v: number | undefined, where: string): string {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`seccomp profile: ${where}: bad value ${n}`);
  return BigInt(n).toString();
}

/** The filter file of an OCI seccomp section. */
export function renderSeccomp(s: OciSeccomp): string {
  const lines = [`default ${action(s.defaultAction, s.defaultErrnoRet, 'defaultAction')}`];
  for (const a of s.architectures ?? []) {
    const name = a.replace(/^SCMP_ARCH_/, '').toLowerCase();
    if (!/^[a-z0-9_]+$/.test(name)) throw new InvalidArgumentError(`seccomp profile: bad architecture "${a}"`);
    lines.push(`arch ${name}`);
  }
  for (const r of s.syscalls ?? []) {
    const args = r.args ?? [];
    if (args.length > 6) throw new InvalidArgumentError(`seccomp profile: a rule has ${args.length} arguments`);
    // A rule repeating the default action changes nothing (libseccomp refuses it).
    if (r.action === s.defaultAction && (r.errnoRet ?? DEFAULT_ERRNO) === (s.defaultErrnoRet ?? DEFAULT_ERRNO))
      continue;
    for (const name of r.names) {
      if (!/^[a-z0-9_]+$/.test(name)) throw new InvalidArgumentError(`seccomp profile: bad syscall name "${name}"`);
      const conds = args.map((c) => {
        if (!OPS.has(c.op)) throw new InvalidArgumentError(`seccomp profile: ${name}: unsupported operator "${c.op}"`);
        return `${u64(c.index, name)} ${c.op} ${u64(c.value, name)} ${u64(c.valueTwo, name)}`;
      });
      lines.push(['rule', action(r.action, r.errnoRet, name), name, String(args.length), ...conds].join(' '));
    }
  }
  return `${lines.join('\n')}\n`;
}
