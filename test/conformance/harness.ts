/**
 * The conformance harness (not a test file). A spec mirrors one upstream CRI validation spec (cri-tools
 * pkg/validate) and is written once; `conformance()` registers it for every selected handler as the node:test
 * subtest `<handler>: <upstream title>`, against one daemon per test file (env.ts), with the handler's
 * expectation (expectations.ts) deciding what counts as success:
 * - pass: the spec must pass;
 * - refuse: the spec must end in InvalidArgument/Unimplemented naming the field (its first refused call);
 * - todo: the spec runs as a node:test todo, its outcome recorded either way.
 * Every outcome is recorded to bench/results/conformance.json (results.ts). Handlers run concurrently (each
 * handler's specs in order) unless CRIMUX_CONFORMANCE_SERIAL=1; CRIMUX_CONFORMANCE_HANDLERS and
 * CRIMUX_CONFORMANCE_SPECS narrow a run to some handlers and specs.
 */
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { grpc } from '../helpers/cri-client';
import type { DaemonHandle } from '../helpers/daemon';
import { startConformanceEnv, type ConformanceEnv } from './env';
import { expectationOf, tableProblem, type Expectation } from './expectations';
import { selectedHandlers, unavailable, type Handler } from './handlers';
import { flushResults, record, type Outcome } from './results';

export interface Spec {
  /** Stable key of the expectation table and the results file: `area/what`. */
  readonly id: string;
  /** The upstream spec's title (cri-tools pkg/validate), so results compare one to one. */
  readonly title: string;
  /** Bound of the whole spec on runc; slower backends get a multiple (HANDLER_SLOWNESS). Default 120 s. */
  readonly timeoutMs?: number;
  run(c: SpecContext): Promise<void>;
}

export interface SpecContext {
  readonly handler: Handler;
  readonly env: ConformanceEnv;
  readonly daemon: DaemonHandle;
  rt: DaemonHandle['rt'];
  img: DaemonHandle['img'];
  /** Runs after the spec, passed or failed, last registered first (bounded; errors are only reported). */
  defer(fn: () => Promise<unknown>): void;
  /** A fresh unique suffix, as upstream's framework.NewUUID(). */
  uuid(): string;
  /**
   * A resource shared by the specs of one handler in this file (a pod several specs may honestly use), created
   * on first use; `release` runs when the file ends.
   */
  shared<T>(key: string, create: () => Promise<T>, release?: (v: T) => Promise<unknown>): Promise<T>;
  /** A diagnostic line in the test report. */
  note(msg: string): void;
}

/** How much longer than runc a backend may take (VMs run under TCG here). */
const HANDLER_SLOWNESS: Record<Handler['backend'], number> = { runc: 1, docker: 1.5, rkt: 1.5, vm: 4 };
const DEFER_BOUND_MS = 120_000;

export interface ConformanceFile {
  /** Shown in the report and stored with every record (e.g. "pod"). */
  readonly name: string;
  /** The file's CNI slot (handlers.ts lists who takes which). */
  readonly slot: number;
  readonly specs: readonly Spec[];
  /** Run the handlers one after another (their specs would disturb each other, e.g. through a shared store). */
  readonly handlersInTurn?: boolean;
}

export function conformance(file: ConformanceFile): void {
  const problem = tableProblem();
  if (problem) throw new Error(`test/conformance/expectations.ts: ${problem}`);
  const handlers = selectedHandlers();
  const specs = selectedSpecs(file.specs);
  let env: ConformanceEnv | undefined;
  const shared = new Map<string, { value: Promise<unknown>; release?: (v: unknown) => Promise<unknown> }>();

  before(
    async () => {
      env = await startConformanceEnv(file.slot, handlers);
    },
    { timeout: 900_000 },
  );

  after(
    async () => {
      await Promise.all(
        [...shared.values()].map(async (s) => {
          const v = await s.value.catch(() => undefined);
          if (v !== undefined && s.release) await bounded(s.release(v), DEFER_BOUND_MS).catch(() => undefined);
        }),
      );
      await env?.cleanup();
      await flushResults();
    },
    { timeout: 600_000 },
  );

  const parallel = process.env.CRIMUX_CONFORMANCE_SERIAL !== '1' && !file.handlersInTurn;
  describe(`conformance: ${file.name}`, { concurrency: parallel ? handlers.length : 1 }, () => {
    for (const handler of handlers) {
      const skip = unavailable(handler.backend);
      describe(handler.name, { skip, concurrency: 1 }, () => {
        for (const spec of specs) {
          const exp = expectationOf(handler.name, spec.id);
          const limit = Math.round((spec.timeoutMs ?? 120_000) * HANDLER_SLOWNESS[handler.backend]);
          const todo = typeof exp === 'object' && 'todo' in exp ? exp.todo : undefined;
          const title = `${handler.name}: ${spec.title}`;
          test(title, { todo, timeout: limit + DEFER_BOUND_MS + 10_000 }, async (t) => {
            if (!env) throw new Error('the conformance daemon did not start');
            const ctx = specContext(handler, env, shared, (m) => t.diagnostic(m));
            const started = Date.now();
            let outcome: Outcome;
            let note: string | undefined = todo;
            let failure: unknown;
            try {
              const err = await runSpec(spec, ctx.c, limit);
              const verdict = judge(exp, err);
              outcome = verdict.outcome;
              note = verdict.note ?? note;
              failure = verdict.failure;
            } finally {
              await ctx.runDeferred();
            }
            record(handler.name, spec.id, {
              title: spec.title,
              file: file.name,
              outcome,
              ms: Date.now() - started,
              ...(note ? { note } : {}),
              at: new Date().toISOString(),
            });
            if (failure) throw failure;
          });
        }
      });
      if (skip) {
        for (const spec of specs) {
          const at = new Date().toISOString();
          record(handler.name, spec.id, { title: spec.title, file: file.name, outcome: 'skip', ms: 0, note: skip, at });
        }
      }
    }
  });
}

/** CRIMUX_CONFORMANCE_SPECS: comma-separated spec id prefixes (e.g. "networking/,container/exec"); all when unset. */
function selectedSpecs(specs: readonly Spec[]): readonly Spec[] {
  const prefixes = (process.env.CRIMUX_CONFORMANCE_SPECS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return prefixes.length === 0 ? specs : specs.filter((s) => prefixes.some((p) => s.id.startsWith(p)));
}

/** Runs a spec within its bound; resolves with what it threw (undefined when it passed). */
async function runSpec(spec: Spec, c: SpecContext, limitMs: number): Promise<unknown> {
  try {
    await bounded(spec.run(c), limitMs, `spec did not finish within ${limitMs} ms`);
    return undefined;
  } catch (err) {
    return err ?? new Error('spec threw a nullish value');
  }
}

interface Verdict {
  outcome: Outcome;
  note?: string;
  failure?: unknown;
}

/** What a spec's result means under its expectation. */
export function judge(exp: Expectation, err: unknown): Verdict {
  if (exp === 'pass') return err === undefined ? { outcome: 'pass' } : { outcome: 'fail', failure: err };
  if ('todo' in exp) return err === undefined ? { outcome: 'todo-pass' } : { outcome: 'todo-fail', failure: err };
  const field = exp.refuse;
  if (err === undefined) {
    return { outcome: 'fail', failure: new Error(`expected a refusal naming "${field}", but the spec passed`) };
  }
  const e = err as Partial<grpc.ServiceError>;
  // 3 = INVALID_ARGUMENT, 12 = UNIMPLEMENTED
  if ((e.code === 3 || e.code === 12) && typeof e.details === 'string' && e.details.includes(field)) {
    return { outcome: 'refuse', note: e.details };
  }
  const got = e.code !== undefined ? `gRPC code ${e.code}: ${e.details ?? ''}` : String(err);
  return {
    outcome: 'fail',
    failure: new Error(`expected InvalidArgument/Unimplemented naming "${field}", got ${got}`, { cause: err }),
  };
}

function specContext(
  handler: Handler,
  env: ConformanceEnv,
  shared: Map<string, { value: Promise<unknown>; release?: (v: unknown) => Promise<unknown> }>,
  note: (m: string) => void,
): { c: SpecContext; runDeferred(): Promise<void> } {
  const deferred: (() => Promise<unknown>)[] = [];
  const c: SpecContext = {
    handler,
    env,
    daemon: env.daemon,
    rt: env.daemon.rt,
    img: env.daemon.img,
    defer: (fn) => deferred.push(fn),
    uuid: () => randomUUID(),
    shared<T>(key: string, create: () => Promise<T>, release?: (v: T) => Promise<unknown>): Promise<T> {
      const k = `${handler.name}/${key}`;
      let s = shared.get(k);
      if (!s) {
        const value = create();
        value.catch(() => shared.delete(k)); // a failed creation is retried by the next spec
        s = { value, release: release as ((v: unknown) => Promise<unknown>) | undefined };
        shared.set(k, s);
      }
      return s.value as Promise<T>;
    },
    note,
  };
  const runDeferred = async (): Promise<void> => {
    const until = Date.now() + DEFER_BOUND_MS;
    for (const fn of deferred.reverse()) {
      try {
        await bounded(fn(), Math.max(1000, until - Date.now()));
      } catch (err) {
        note(`cleanup: ${String(err)}`);
      }
    }
  };
  return { c, runDeferred };
}

export function bounded<T>(p: Promise<T>, ms: number, what = `not done within ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms))),
  ]);
}
