/**
 * Which pod sysctls a kernel namespace owns: the rule the router validates requests by and every backend applies
 * them by (IPC sysctls in the pod's IPC namespace, net.* in its network namespace). What runc itself accepts.
 */

const IPC_SYSCTLS = [
  'kernel.shmmax',
  'kernel.shmall',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
];

/** Whether a (dotted) sysctl belongs to the IPC namespace, so a pod with its own IPC namespace may set it. */
export function isIpcSysctl(name: string): boolean {
  return IPC_SYSCTLS.includes(name) || name.startsWith('fs.mqueue.');
}
