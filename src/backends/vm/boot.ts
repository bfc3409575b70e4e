/**
 * Bringing a VM up: a cold boot (kernel → /init → agent, ≈4 s under TCG) or a clone of a template snapshot
 * (qemu -incoming from the state file, then `cont`: ≈0.5 s). Both end with the agent answering a ping.
 */
import { UnavailableError } from '../../errors';
import type { Logger } from '../../log/logger';
import type { Event } from './protocol';
import { Qmp } from './qmp';
import { startQemu, type QemuSpec } from './qemu';
import { Vm } from './vm';

export interface BootResult {
  readonly vm: Vm;
  readonly ms: number;
  readonly cloned: boolean;
}

export interface BootHooks {
  readonly onEvent: (e: Event) => void;
  readonly onConnect?: () => Promise<void>;
  readonly log: Logger;
}

/** Cold boot or (with spec.incoming) clone; kills the VM again if the agent does not answer in time. */
export async function bootVm(spec: QemuSpec, netns: string | undefined, timeoutMs: number, hooks: BootHooks, signal?: AbortSignal): Promise<BootResult> {
  const t0 = Date.now();
  const pid = await startQemu(spec, netns);
  const vm = new Vm(spec.paths, pid, hooks.onEvent, hooks.log, hooks.onConnect);
  try {
    if (spec.incoming) await resume(vm, timeoutMs);
    await vm.connect(Math.max(1000, timeoutMs - (Date.now() - t0)), signal);
  } catch (err) {
    await vm.destroy().catch(() => undefined);
    throw err;
  }
  return { vm, ms: Date.now() - t0, cloned: spec.incoming !== undefined };
}

/** Wait for the incoming migration to finish loading, then let the CPUs run. */
async function resume(vm: Vm, timeoutMs: number): Promise<void> {
  const q = await vm.qmp();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = (await q.execute('query-status')) as { status: string };
    if (st.status !== 'inmigrate') {
      if (st.status !== 'paused' && st.status !== 'postmigrate' && st.status !== 'prelaunch') {
        throw new UnavailableError(`restore vm: unexpected status ${st.status} after loading the template`);
      }
      break;
    }
    if (Date.now() > deadline) throw new UnavailableError('restore vm: template state not loaded in time');
    await new Promise((r) => setTimeout(r, 20));
  }
  await q.execute('cont');
}

/**
 * Snapshot a booted, idle VM into `stateFile` (QMP stop + migrate to a file) and quit it. The agent connection is
 * closed first, so a clone starts with the guest waiting for a host, exactly like a fresh boot.
 */
export async function snapshotVm(vm: Vm, stateFile: string, timeoutMs: number): Promise<void> {
  vm.disconnect();
  const q: Qmp = await vm.qmp();
  await q.execute('stop');
  await q.execute('migrate', { uri: `exec:cat > ${stateFile}` });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = (await q.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
    if (m.status === 'completed') break;
    if (m.status === 'failed' || m.status === 'cancelled') {
      throw new UnavailableError(`snapshot vm: migration ${m.status}: ${m['error-desc'] ?? ''}`);
    }
    if (Date.now() > deadline) throw new UnavailableError('snapshot vm: migration did not complete in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
