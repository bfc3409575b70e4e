/**
 * The egress guard keeps pod traffic on this machine: a FORWARD rule dropping anything from the pod CIDR to an
 * address outside it. Pods still reach each other (same CIDR, bridged) and the host itself (INPUT, not FORWARD);
 * nothing they send is routed out. Installed once per CIDR (checked with -C first, so restarts add no duplicates).
 */
import net from 'node:net';
import { InternalError, InvalidArgumentError } from '../errors';
import type { Logger } from '../log/logger';
import { firstLine, runCommand } from '../host/process';

export const GUARD_COMMENT = 'crimux pod egress guard';
const TIMEOUT_MS = 30_000;

export interface GuardOptions {
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
}

/** Validate "a.b.c.d/n" or "v6::/n"; returns the iptables binary for its family. */
function tableFor(cidr: string): 'iptables' | 'ip6tables' {
  const [addr, len, extra] = cidr.split('/');
  const family = addr === undefined ? 0 : net.isIP(addr);
  const bits = Number(len);
  const max = family === 4 ? 32 : 128;
  if (family === 0 || extra !== undefined || len === undefined || !/^\d+$/.test(len) || bits > max) {
    throw new InvalidArgumentError(`egress guard: "${cidr}" is not a CIDR`);
  }
  return family === 4 ? 'iptables' : 'ip6tables';
}

function ruleArgs(cidr: string): string[] {
  return ['FORWARD', '-s', cidr, '!', '-d', cidr, '-m', 'comment', '--comment', GUARD_COMMENT, '-j', 'DROP'];
}

/** Whether the guard rule for cidr is installed. */
export async function hasEgressGuard(cidr: string, options: GuardOptions = {}): Promise<boolean> {
  const bin = tableFor(cidr);
  const res = await runCommand(bin, ['-w', '5', '-C', ...ruleArgs(cidr)], {
    signal: options.signal,
    timeoutMs: TIMEOUT_MS,
  });
  if (res.code === 0) return true;
  // -C exits 1 for "no such rule"; anything else (2: bad arguments, 4: resource problem) is a real failure.
  if (res.code === 1) return false;
  throw new InternalError(`check egress guard ${cidr}: ${bin}: ${firstLine(res)}`);
}

/** Install the guard for cidr at the top of FORWARD unless it is there; true when it was added now. */
export async function ensureEgressGuard(cidr: string, options: GuardOptions = {}): Promise<boolean> {
  if (await hasEgressGuard(cidr, options)) return false;
  const bin = tableFor(cidr);
  const res = await runCommand(bin, ['-w', '5', '-I', ...ruleArgs(cidr)], {
    signal: options.signal,
    timeoutMs: TIMEOUT_MS,
  });
  if (res.code !== 0) throw new InternalError(`install egress guard ${cidr}: ${bin}: ${firstLine(res)}`);
  options.logger?.info('installed pod egress guard', { cidr, chain: 'FORWARD' });
  return true;
}

/** Remove every copy of the guard for cidr (tests, uninstall); missing is success. */
export async function removeEgressGuard(cidr: string, options: GuardOptions = {}): Promise<void> {
  const bin = tableFor(cidr);
  for (let i = 0; i < 16 && (await hasEgressGuard(cidr, options)); i++) {
    const res = await runCommand(bin, ['-w', '5', '-D', ...ruleArgs(cidr)], {
      signal: options.signal,
      timeoutMs: TIMEOUT_MS,
    });
    if (res.code !== 0) throw new InternalError(`remove egress guard ${cidr}: ${bin}: ${firstLine(res)}`);
  }
  options.logger?.info('removed pod egress guard', { cidr });
}
