/**
 * Start-up recovery of the runc backend: find every sandbox and container again from disk, so that a crimux
 * restart (or a kill -9) loses nothing.
 *
 * NOTE assumptions, in the manner of containerd's restart.go:
 *  - conmon monitors live in their own sessions and outlive crimux; their exit files are the truth about exits
 *    that happened while crimux was down, so nothing has to be "caught up" here — status derives from them.
 *  - Records in phase `creating` belong to creates cut short; the router's reconcile removes them through
 *    RemovePodSandbox / RemoveContainer, which clean by ID. Recovery does not second-guess the router.
 *  - A runtime container under one of our runtime roots with neither a record nor a directory can only be the
 *    remains of a create that crashed before its first write: it is deleted.
 *  - Exec process specs in <runDir>/exec belong to calls that died with the old process: removed.
 *  - Removals whose background part had not finished (entries in <stateDir>/trash) are finished now.
 */
import { promises as fs } from 'node:fs';
import type { CallContext } from '../backend';
import { errorMessage } from '../../errors';
import type { RuncShared } from './context';
import { watchOom } from './containers';

export async function recover(s: RuncShared, ctx: CallContext): Promise<void> {
  const { layout } = s;
  await Promise.all(
    [layout.sandboxesDir, layout.containersDir, layout.socketDir, layout.shmRoot].map((d) =>
      fs.mkdir(d, { recursive: true, mode: 0o711 }),
    ),
  );
  await fs.rm(layout.execDir, { recursive: true, force: true });
  await s.records.load();
  await s.reaper.resume();

  const known = new Set([...s.records.allSandboxes().map((r) => r.id), ...s.records.allContainers().map((r) => r.id)]);
  const dirs = new Set([
    ...(await ls(layout.sandboxesDir)),
    ...(await ls(layout.containersDir)),
    ...(await ls(layout.trashDir)).map((n) => n.slice(2)),
  ]);
  for (const handler of s.engine.handlerNames()) {
    const rt = s.engine.runtime(handler);
    let listed;
    try {
      await fs.mkdir(rt.opts.root, { recursive: true, mode: 0o700 });
      listed = await rt.list(ctx.signal);
    } catch (err) {
      ctx.log.warn('recover: cannot list runtime containers', { handler, error: errorMessage(err) });
      continue;
    }
    for (const c of listed) {
      if (known.has(c.id) || dirs.has(c.id)) continue;
      ctx.log.warn('recover: deleting runtime container without a record', { handler, id: c.id, status: c.status });
      await rt
        .delete(c.id, { force: true })
        .catch((err: unknown) => ctx.log.warn('recover: delete failed', { id: c.id, error: errorMessage(err) }));
    }
  }

  const counts: Record<string, number> = {};
  for (const rec of s.records.allContainers()) {
    const sb = s.records.sandbox(rec.sandboxId);
    const live = sb
      ? await s.engine.state(sb.handler, rec.id, layout.containerDir(rec.id), rec.startedAt !== undefined)
      : { kind: 'unknown' };
    counts[live.kind] = (counts[live.kind] ?? 0) + 1;
    if (live.kind === 'running') watchOom(s, rec.id, rec.cgroupsPath);
  }
  ctx.log.info('runc backend recovered', {
    sandboxes: s.records.allSandboxes().length,
    containers: s.records.allContainers().length,
    ...Object.fromEntries(Object.entries(counts).map(([k, v]) => [`containers_${k}`, v])),
  });
}

async function ls(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}
