/**
 * Start-up recovery: make the ownership records and what each backend reports agree, before any RPC is served.
 *
 * NOTE assumptions, in the manner of containerd's restart.go:
 *  - A backend that is not ready, or whose list fails, is skipped entirely: its records are kept as they are
 *    (never treat "cannot see" as "is gone").
 *  - A record still `creating` belongs to a create whose caller got no answer: it is rolled back (the backend
 *    removes whatever exists under that ID; remove is idempotent) and the kubelet's retry creates it again.
 *  - A record `removing` is finished (remove again, then forget).
 *  - A `ready` record the backend does not list is a ghost: removed by ID all the same (whatever a cut-short
 *    removal left that the backend can still find goes, cgroups included), then forgotten (with its containers).
 *  - An object the backend lists without a record is an orphan: adopted when its sandbox is known (its identity
 *    comes from the backend's metadata), otherwise removed.
 * Every repair is logged and counted in crimux_reconcile_repairs_total{backend,kind}.
 */
import type { Backend, CallContext } from '../backends/backend';
import { errorMessage } from '../errors';
import type { Metrics } from '../metrics/metrics';
import type * as cri from '../cri/types';
import type { OwnershipStore } from '../state/types';
import { containerEntry } from './shape-container';
import { sandboxEntry } from './shape-sandbox';

export interface ReconcileReport {
  readonly skipped: string[];
  readonly repairs: { backend: string; kind: string; id: string }[];
}

export async function reconcile(
  store: OwnershipStore,
  backends: readonly Backend[],
  metrics: Metrics,
  ctx: CallContext,
  defaultHandlerOf: (backend: string) => string,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { skipped: [], repairs: [] };
  for (const backend of backends) {
    const log = ctx.log.child({ backend: backend.name });
    const repair = (kind: string, id: string): void => {
      report.repairs.push({ backend: backend.name, kind, id });
      metrics.reconcileRepairs.inc({ backend: backend.name, kind });
      log.warn('reconcile repaired a record', { kind, id });
    };
    let sandboxes: cri.PodSandbox[];
    let containers: cri.Container[];
    try {
      const health = await backend.health(ctx);
      if (!health.ready) throw new Error(`not ready: ${health.reason ?? ''} ${health.message ?? ''}`);
      [sandboxes, containers] = await Promise.all([
        backend.listPodSandboxes(ctx).then((l) => l.map(sandboxEntry)),
        backend.listContainers(ctx).then((l) => l.map(containerEntry)),
      ]);
    } catch (err) {
      report.skipped.push(backend.name);
      log.warn('reconcile skipped backend; keeping its records untouched', { error: errorMessage(err) });
      continue;
    }
    const c: CallContext = { signal: ctx.signal, log };
    const listedSandboxes = new Map(sandboxes.filter((s) => s.id).map((s) => [s.id as string, s]));
    const listedContainers = new Map(containers.filter((x) => x.id).map((x) => [x.id as string, x]));
    // IDs whose record this pass already settled: not orphans, even though the earlier list still shows them.
    const settled = new Set<string>();

    for (const rec of store.listContainers({ backend: backend.name })) {
      if (rec.phase === 'creating' || rec.phase === 'removing') {
        settled.add(rec.id);
        if (await attempt(log, () => backend.removeContainer(c, rec.id))) {
          store.deleteContainer(rec.id);
          repair(rec.phase === 'creating' ? 'rolled_back_create' : 'finished_remove', rec.id);
        }
      } else if (!listedContainers.has(rec.id) || !store.getSandbox(rec.sandboxId)) {
        // Not listed is not "nothing left": a removal cut short can leave host state the backend still finds by
        // ID (remove is idempotent and cheap for an unknown ID), so it cleans before the record goes.
        if (await attempt(log, () => backend.removeContainer(c, rec.id))) {
          store.deleteContainer(rec.id);
          repair('ghost_removed', rec.id);
        }
      }
    }
    for (const rec of store.listSandboxes({ backend: backend.name })) {
      if (rec.phase === 'creating' || rec.phase === 'removing') {
        settled.add(rec.id);
        for (const ctr of store.listContainers({ sandboxId: rec.id })) settled.add(ctr.id);
        if (await attempt(log, () => backend.removePodSandbox(c, rec.id))) {
          for (const ctr of store.listContainers({ sandboxId: rec.id })) store.deleteContainer(ctr.id);
          store.deleteSandbox(rec.id);
          repair(rec.phase === 'creating' ? 'rolled_back_create' : 'finished_remove', rec.id);
        }
      } else if (!listedSandboxes.has(rec.id)) {
        settled.add(rec.id);
        if (await attempt(log, () => backend.removePodSandbox(c, rec.id))) {
          for (const ctr of store.listContainers({ sandboxId: rec.id })) store.deleteContainer(ctr.id);
          store.deleteSandbox(rec.id);
          repair('ghost_removed', rec.id);
        }
      }
    }
    for (const [id, s] of listedSandboxes) {
      if (settled.has(id) || store.getSandbox(id)) continue;
      const md = s.metadata;
      if (md?.name && md.namespace) {
        store.insertSandbox({
          id,
          backend: backend.name,
          handler: s.runtime_handler || defaultHandlerOf(backend.name),
          reason: 'adopted by reconcile',
          name: md.name,
          namespace: md.namespace,
          uid: md.uid ?? '',
          attempt: md.attempt ?? 0,
          labels: s.labels ?? {},
          annotations: s.annotations ?? {},
          createdAt: String(s.created_at ?? '0'),
        });
        store.updateSandbox(id, { phase: 'ready', snapshot: JSON.stringify(s) });
        repair('orphan_adopted', id);
      } else if (await attempt(log, () => backend.removePodSandbox(c, id))) {
        repair('orphan_removed', id);
      }
    }
    for (const [id, x] of listedContainers) {
      if (settled.has(id) || store.getContainer(id)) continue;
      const sandboxId = x.pod_sandbox_id ?? '';
      if (store.getSandbox(sandboxId) && x.metadata?.name) {
        store.insertContainer({
          id,
          sandboxId,
          backend: backend.name,
          name: x.metadata.name,
          attempt: x.metadata.attempt ?? 0,
          image: x.image?.image ?? '',
          labels: x.labels ?? {},
          annotations: x.annotations ?? {},
          createdAt: String(x.created_at ?? '0'),
        });
        store.updateContainer(id, { phase: 'ready', snapshot: JSON.stringify(x) });
        repair('orphan_adopted', id);
      } else if (await attempt(log, () => backend.removeContainer(c, id))) {
        repair('orphan_removed', id);
      }
    }
  }
  return report;
}

async function attempt(log: CallContext['log'], fn: () => Promise<void>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    log.error('reconcile repair failed; will retry at next start', { error: errorMessage(err) });
    return false;
  }
}
