/**
 * Getting a created container to the runtime's "created" state: its root mounted, the bundle pointed at it, and
 * conmon running `runtime create`. CreateContainer answers first and starts this in the background (CRI-O does
 * the runtime create inside CreateContainer; doing it just after the reply keeps CreateContainer as cheap as
 * containerd's while StartContainer usually finds the work done). StartContainer then only waits for it and runs
 * `runtime start`.
 *
 * NOTE: the in-flight work is tracked in memory only. After a restart, StartContainer asks the runtime: a
 * container it knows as created is started as is; one it does not know is launched again from the bundle.
 */
import type { CallContext } from '../backend';
import { FailedPreconditionError } from '../../errors';
import type { RuncShared } from './context';
import type { ContainerRecord } from './records';

function launchNow(s: RuncShared, ctx: CallContext, rec: ContainerRecord, handler: string): Promise<number> {
  const dir = s.layout.containerDir(rec.id);
  return (async () => {
    const snap = await (s.mounting.get(rec.id) ?? s.images.prepare(ctx, rec.id, rec.imageId, { readonly: false }));
    await s.engine.setRoot(dir, snap.rootfs);
    return s.engine.launch({
      handler,
      id: rec.id,
      dir,
      logPath: rec.logPath || undefined,
      tty: rec.tty,
      stdin: rec.stdin,
      stdinOnce: rec.stdinOnce,
      signal: ctx.signal,
    });
  })();
}

/** Starts the launch in the background, after the current reply has gone out. */
export function prelaunch(s: RuncShared, rec: ContainerRecord, handler: string): void {
  const ctx: CallContext = { signal: AbortSignal.timeout(120_000), log: s.log.child({ container: rec.id }) };
  const launching = new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => launchNow(s, ctx, rec, handler));
  launching.catch(() => undefined); // StartContainer or removal awaits it; never an unhandled rejection
  s.launching.set(rec.id, launching);
}

/** Waits for or does the launch; resolves with the init PID of the runtime's created container. */
export async function ensureLaunched(
  s: RuncShared,
  ctx: CallContext,
  rec: ContainerRecord,
  handler: string,
): Promise<number> {
  const inFlight = s.launching.get(rec.id);
  if (inFlight) {
    try {
      return await inFlight;
    } finally {
      if (s.launching.get(rec.id) === inFlight) s.launching.delete(rec.id);
    }
  }
  const live = await s.engine.state(handler, rec.id, s.layout.containerDir(rec.id), false);
  if (live.kind !== 'created')
    throw new FailedPreconditionError(`start container ${rec.id}: not in the created state (${live.kind})`);
  if (live.pid > 0) return live.pid; // launched before a restart
  return launchNow(s, ctx, rec, handler);
}
