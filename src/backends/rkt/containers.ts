/**
 * Container RPCs in rkt terms (rktlet runtime/rkt_runtime.go, ported without its bugs):
 *   CreateContainer → `rkt app add`   StartContainer → `rkt app start`   RemoveContainer → `rkt app rm`
 *   StopContainer   → `rkt app stop` honouring the timeout (rktlet left the timeout unsupported)
 *   ContainerStatus → `rkt app status`; ListContainers → ONE `rkt list` (its apps[]), not rktlet's N+1 status calls
 * Stop and remove of an unknown container succeed (CRI); status of one is NotFound.
 */
import path from 'node:path';
import { NotFoundError } from '../../errors';
import type { CallContext, ContainerFacts, ContainerStatusResult, CreateContainerRequest } from '../backend';
import { resolveUser } from '../../host/passwd';
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

export async function createContainer(ctx: RktShared, cc: CallContext, req: CreateContainerRequest): Promise<void> {
  const { id, config } = req;
  const sandbox = await findSandbox(ctx, req.sandboxId, cc.signal);
  if (!sandbox?.uuid) throw new NotFoundError(`create container ${id}: pod sandbox ${req.sandboxId} not found`);
  const uuid = sandbox.uuid;
  const md = config.metadata;
  const app = appName(md?.attempt ?? 0, md?.name ?? 'app');
  const old = await ctx.index.getContainer(id);
  if (old) {
    cc.log.info('removing leftovers of an earlier attempt', { container: id });
    await removeContainer(ctx, cc, id);
  }
  const image = config.image?.image ?? '';
  let imageConfig: ImageConfig = {};
  let user: AppUser;
  const sc = config.linux?.security_context;
  const userReq = {
    spec: sc?.run_as_username || undefined,
    uid: sc?.run_as_user ? Number(sc.run_as_user.value) : undefined,
    gid: sc?.run_as_group ? Number(sc.run_as_group.value) : undefined,
  };
  const supplemental = (sc?.supplemental_groups ?? []).map(Number);
  if (ctx.rootfs) {
    // The app's root is prepared now (app add reuses it: same key) so the user resolves against its own files.
    const resolved = await ctx.images.resolve(cc, image);
    imageConfig = resolved.config;
    const prepared = await ctx.rootfs.prepare(rootfsKey(uuid, app), image, cc.signal);
    const u = await resolveUser(
      prepared.rootfs,
      { ...userReq, spec: userReq.spec ?? imageConfig.user },
      'linux.security_context.run_as_username',
    );
    user = {
      uid: u.uid,
      gid: u.gid,
      groups: [...new Set([u.gid, ...u.additionalGids, ...supplemental])],
      home: u.home ?? '/',
    };
  } else {
    // A real rkt resolves names itself from the image it fetched; only numeric IDs can be passed on.
    const u = await resolveUser('/nonexistent', userReq, 'linux.security_context.run_as_username');
    user = { uid: u.uid, gid: u.gid, groups: [...new Set([u.gid, ...supplemental])], home: '/' };
  }
  const caps = capsOf(config);
  const violations = containerViolations(config, ctx.info.enforces);
  try {
    enforce(`create container ${md?.name ?? id}`, violations, ctx.config.securityPolicy, cc.log);
  } catch (err) {
    if (ctx.rootfs) await ctx.rootfs.remove(rootfsKey(uuid, app));
    throw err;
  }
  for (const f of ignoredLsmFields(config))
    cc.log.warn('LSM option ignored: no LSM is applied by the rkt backend', { field: f });
  const built = buildAppSpec({ id, app, config, image, imageConfig, user, requireExec: ctx.stage1 !== undefined });
  // The profile as every backend computes it (src/host/seccomp.ts; the router already refused bad choices).
  const seccomp =
    sc && ctx.info.enforces.includes('seccomp')
      ? await seccompFor(chooseSeccomp(sc, 'config.linux.security_context'), caps, shippedRuntimeDefaultProfile())
      : undefined;
  const spec = seccomp ? { ...built, seccomp } : built;
  const logPath =
    req.sandboxConfig.log_directory && config.log_path
      ? path.join(req.sandboxConfig.log_directory, config.log_path)
      : '';
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
  await ctx.index.putContainer(rec);
  cc.log.info('rkt app add', { app: rktAppId(uuid, app), image });
  try {
    await ctx.pm.appAdd(uuid, spec, cc.signal);
  } catch (err) {
    await ctx.index.deleteContainer(id);
    if (ctx.rootfs) await ctx.rootfs.remove(rootfsKey(uuid, app)).catch(() => undefined);
    throw err;
  }
  await ctx.index.putContainer({ ...rec, state: 'created' });
}

async function mustFind(ctx: RktShared, cc: CallContext, id: string, what: string): Promise<ContainerRecord> {
  const rec = await findContainer(ctx, id, cc.signal);
  if (!rec) throw new NotFoundError(`${what} ${id}: container not found`);
  return rec;
}

export async function startContainer(ctx: RktShared, cc: CallContext, id: string): Promise<void> {
  const rec = await mustFind(ctx, cc, id, 'start container');
  cc.log.info('rkt app start', { app: rktAppId(rec.uuid, rec.app) });
  await ctx.pm.appStart(rec.uuid, rec.app, cc.signal);
}

export async function stopContainer(
  ctx: RktShared,
  cc: CallContext,
  id: string,
  timeoutSeconds: number,
): Promise<void> {
  const rec = await findContainer(ctx, id, cc.signal);
  // CRI: stopping an unknown container succeeds, like CRI-O's container_stop.go.
  if (!rec) return;
  cc.log.info('rkt app stop', { app: rktAppId(rec.uuid, rec.app), timeout: timeoutSeconds });
  await ctx.pm.appStop(rec.uuid, rec.app, Math.max(0, timeoutSeconds), cc.signal).catch((err: unknown) => {
    if (!(err instanceof NotFoundError)) throw err;
  });
}

export async function removeContainer(ctx: RktShared, cc: CallContext, id: string): Promise<void> {
  const rec = await findContainer(ctx, id, cc.signal);
  if (!rec) return;
  cc.log.info('rkt app rm', { app: rktAppId(rec.uuid, rec.app) });
  await ctx.pm.appRm(rec.uuid, rec.app, cc.signal).catch((err: unknown) => {
    if (!(err instanceof NotFoundError)) throw err;
  });
  await ctx.index.deleteContainer(id);
}

/** The facts of an app whose v1 JSON is already at hand (no extra pod-manager call). */
export async function appFactsOf(ctx: RktShared, id: string, sandboxId: string, app: v1.App): Promise<ContainerFacts> {
  return appFacts(id, sandboxId, app, await ctx.index.getContainer(id));
}

export async function containerStatus(
  ctx: RktShared,
  cc: CallContext,
  id: string,
  verbose: boolean,
): Promise<ContainerStatusResult> {
  const rec = await mustFind(ctx, cc, id, 'container status');
  const app = await ctx.pm.appStatus(rec.uuid, rec.app, cc.signal).catch((err: unknown) => {
    throw err instanceof NotFoundError ? new NotFoundError(`container status ${id}: not found`, { cause: err }) : err;
  });
  const info: Record<string, string> = {};
  if (verbose)
    info.info = JSON.stringify({
      podManager: ctx.info.kind,
      rktAppId: rktAppId(rec.uuid, rec.app),
      sandboxId: rec.sandboxId,
    });
  return { facts: appFacts(id, rec.sandboxId, app, rec), info };
}

export async function listContainers(ctx: RktShared, cc: CallContext): Promise<ContainerFacts[]> {
  const out: ContainerFacts[] = [];
  for (const { id: sandboxId, pod } of crimuxPods(await ctx.pm.list(cc.signal))) {
    for (const app of pod.apps ?? []) {
      const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
      if (cid) out.push(appFacts(cid, sandboxId, app));
    }
  }
  return out;
}
