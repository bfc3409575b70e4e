/**
 * crimux's own oom_score_adj: the lowest value its containers can be given on this host. runc (and Docker's runc)
 * cannot lower a child's value below its parent's where crimux lacks CAP_SYS_RESOURCE, so both backends that set
 * one clamp requests to this floor, as containerd's restrict_oom_score_adj does.
 */
import { readFileSync } from 'node:fs';

export function ownOomScoreAdj(): number {
  try {
    return Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}
