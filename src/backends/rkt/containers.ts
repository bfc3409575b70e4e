/**
 * Container RPCs in rkt terms (rktlet runtime/rkt_runtime.go, ported without its bugs):
 *   CreateContainer → `rkt app add`   StartContainer → `rkt app start`   RemoveContainer → `rkt app rm`
 *   StopContainer   → `rkt app stop` honouring the timeout (rktlet left the timeout unsupported)
 *   ContainerStatus → `rkt app status`; ListContainers → ONE `rkt list` (its apps[]), not rktlet's N+1 status calls
 * Stop and remove of an unknown container succeed (CRI); status of one is NotFound.
 */
import { NotFoundError } from '../../errors';
import type { CallContext, ContainerFacts, ContainerStatusResult, CreateContainerRequest } from '../backend';
import { rootSource } from '../../host/passwd';
import { processUser } from '../../host/container-policy';
import { chooseSeccomp, seccompFor, shippedRuntimeDefaultProfile } from '../../host/seccomp';
import type * as v1 from './api';
import type { RktShared } from './context';
import { appFacts } from './convert';
import { CONTAINER_ID_ANNOTATION, appName, rktAppId, type ContainerRecord } from './records';
import { crimuxPods, findContainer, findSandbox } from './lookup';
import { containerViolations, enforce, ignoredLsmFields } from './security';
import { buildAppSpec, capsOf, type AppUser } from './spec';
import { rootfsKey } from './stage1/context';
import type { ImageConfig } from '../../images/types';

export async function createContainer(s: RktShared, ctx: CallContext, req: CreateContainerRequest): Promise<void> {
  const { id, config } = req;
  const sandbox = await findSandbox(s, req.sandboxId, ctx.signal);
  if (!sandbox?.uuid) throw new NotFoundError(`create container ${id}: pod sandbox ${req.sandboxId} not found`);
  const uuid = sandbox.uuid;
  const md = config.metadata;
  const app = appName(md?.attempt ?? 0, md?.name ?? 'app');
  const old = await s.index.getContainer(id);
  if (old) {
    ctx.log.info('removing leftovers of an earlier attempt', { container: id });
    await removeContainer(s, ctx, id);
  }
  const image = config.image?.image ?? '';
  let imageConfig: ImageConfig = {};
  const sc = config.linux?.security_context;
  // A real rkt resolves names itself from the image it fetched: only numeric IDs can be passed on (no files here).
  let root = '/nonexistent';
  if (s.rootfs) {
    // The app's root is prepared now (app add reuses it: same key) so the user resolves against its own files.
    imageConfig = (await s.images.resolve(ctx, image)).config;
    root = (await s.rootfs.prepare(rootfsKey(uuid, app), image, ctx.signal)).rootfs;
  }
  // The rule every backend shares (CRI run_as_* over the image's USER, groups primary first): container-policy.ts.
  const u = await processUser(sc ?? null, imageConfig, rootSource(root)).catch(async (err: unknown) => {
    // An unknown user is the request's fault: nothing of it may stay behind.
    if (s.rootfs) await s.rootfs.remove(rootfsKey(uuid, app));
    throw err;
  });
  const user: AppUser = { uid: u.uid, gid: u.gid, groups: u.additionalGids, home: u.home ?? '/' };
  const caps = capsOf(config);
  const violations = containerViolations(config, s.info.enforces);
  try {
    enforce(`create container ${md?.name ?? id}`, violations, s.config.securityPolicy, ctx.log);
  } catch (err) {
    if (s.rootfs) await s.rootfs.remove(rootfsKey(uuid, app));
    throw err;
  }
  for (const f of ignoredLsmFields(config))
    ctx.log.warn('LSM option ignored: no LSM is applied by the rkt backend', { field: f });
  const built = buildAppSpec({ id, app, config, image, imageConfig, user, requireExec: s.stage1 !== undefined });
  // The profile as every backend computes it (src/host/seccomp.ts; the router already refused bad choices).
  const seccomp =
    sc && s.info.enforces.includes('seccomp')
      ? await seccompFor(chooseSeccomp(sc, 'config.linux.security_context'), caps, shippedRuntimeDefaultProfile())
      : undefined;
  const spec = seccomp ? { ...built, seccomp } : built;
  const logPath = req.logPath;
  const rec: ContainerRecord = {
    version: 1,
    id,
    state: 'creating',
    sandboxId: req.sandboxId,
    uuid,
    app,
    logPath,
    user: { uid: user.uid, gid: user.gid, groups: user.groups },
  };
  await s.index.putContainer(rec);
  ctx.log.info('rkt app add', { app: rktAppId(uuid, app), image });
  try {
    await s.pm.appAdd(uuid, spec, ctx.signal);
  } catch (err) {
    await s.index.deleteContainer(id);
    if (s.rootfs) await s.rootfs.remove(rootfsKey(uuid, app)).catch(() => undefined);
    throw err;
  }
  await s.index.putContainer({ ...rec, state: 'created' });
}

async function mustFind(s: RktShared, ctx: CallContext, id: string, what: string): Promise<ContainerRecord> {
  const rec = await findContainer(s, id, ctx.signal);
  if (!rec) throw new NotFoundError(`${what} ${id}: container not found`);
  return rec;
}

export async function startContainer(s: RktShared, ctx: CallContext, id: string): Promise<void> {
  const rec = await mustFind(s, ctx, id, 'start container');
  ctx.log.info('rkt app start', { app: rktAppId(rec.uuid, rec.app) });
  await s.pm.appStart(rec.uuid, rec.app, ctx.signal);
}

export async function stopContainer(s: RktShared, ctx: CallContext, id: string, timeoutSeconds: number): Promise<void> {
  const rec = await findContainer(s, id, ctx.signal);
  // CRI: stopping an unknown container succeeds, like CRI-O's container_stop.go.
  if (!rec) return;
  ctx.log.info('rkt app stop', { app: rktAppId(rec.uuid, rec.app), timeout: timeoutSeconds });
  await s.pm.appStop(rec.uuid, rec.app, timeoutSeconds, ctx.signal).catch((err: unknown) => {
    if (!(err instanceof NotFoundError)) throw err;
  });
}

export async function removeContainer(s: RktShared, ctx: CallContext, id: string): Promise<void> {
  const rec = await findContainer(s, id, ctx.signal);
  if (!rec) return;
  ctx.log.info('rkt app rm', { app: rktAppId(rec.uuid, rec.app) });
  await s.pm.appRm(rec.uuid, rec.app, ctx.signal).catch((err: unknown) => {
    if (!(err instanceof NotFoundError)) throw err;
  });
  await s.index.deleteContainer(id);
}

/** The facts of an app whose v1 JSON is already at hand (no extra pod-manager call). */
export async function appFactsOf(s: RktShared, id: string, sandboxId: string, app: v1.App): Promise<ContainerFacts> {
  return appFacts(id, sandboxId, app, await s.index.getContainer(id));
}

export async function containerStatus(
  s: RktShared,
  ctx: CallContext,
  id: string,
  verbose: boolean,
): Promise<ContainerStatusResult> {
  const rec = await mustFind(s, ctx, id, 'container status');
  const app = await s.pm.appStatus(rec.uuid, rec.app, ctx.signal).catch((err: unknown) => {
    throw err instanceof NotFoundError ? new NotFoundError(`container status ${id}: not found`, { cause: err }) : err;
  });
  const info: Record<string, string> = {};
  if (verbose)
    info.info = JSON.stringify({
      podManager: s.info.kind,
      rktAppId: rktAppId(rec.uuid, rec.app),
      sandboxId: rec.sandboxId,
    });
  return { facts: appFacts(id, rec.sandboxId, app, rec), info };
}

export async function listContainers(s: RktShared, ctx: CallContext): Promise<ContainerFacts[]> {
  const out: ContainerFacts[] = [];
  for (const { id: sandboxId, pod } of crimuxPods(await s.pm.list(ctx.signal))) {
    for (const app of pod.apps ?? []) {
      const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
      if (cid) out.push(appFacts(cid, sandboxId, app));
    }
  }
  return out;
}
