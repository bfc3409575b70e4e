/**
 * The conformance suite's own record (not a test file): every spec's outcome per handler, merged into
 * bench/results/conformance.json by each test file when it ends, with per-handler counts recomputed from the
 * whole record. scripts/conformance-table.ts renders the README table from it. Test files may run in parallel
 * processes, so the read-modify-write happens under an exclusive lock file (bounded wait).
 */
import fs from 'node:fs';
import path from 'node:path';

export const RESULTS_FILE = path.resolve(__dirname, '..', '..', 'bench', 'results', 'conformance.json');

/**
 * pass: passed as expected; refuse: the documented refusal came; todo-fail / todo-pass: a known gap that still
 * fails / now passes (time to drop the todo); fail: a real failure; skip: the backend cannot run on this machine.
 */
export type Outcome = 'pass' | 'refuse' | 'todo-fail' | 'todo-pass' | 'fail' | 'skip';
export const OUTCOMES: readonly Outcome[] = ['pass', 'refuse', 'todo-fail', 'todo-pass', 'fail', 'skip'];

export interface SpecRecord {
  readonly title: string;
  readonly file: string;
  readonly outcome: Outcome;
  readonly ms: number;
  /** The todo's or refusal's text, or the failure's first line. */
  readonly note?: string;
  readonly at: string;
}

export interface ResultsFile {
  updated: string;
  counts: Record<string, Record<Outcome, number>>;
  /** handler → spec id → record. */
  specs: Record<string, Record<string, SpecRecord>>;
}

const pending: { handler: string; id: string; record: SpecRecord }[] = [];

export function record(handler: string, id: string, rec: SpecRecord): void {
  pending.push({ handler, id, record: rec });
}

export function readResults(file = RESULTS_FILE): ResultsFile {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ResultsFile;
  } catch {
    return { updated: '', counts: {}, specs: {} };
  }
}

export function countsOf(specs: ResultsFile['specs']): ResultsFile['counts'] {
  const counts: ResultsFile['counts'] = {};
  for (const [handler, byId] of Object.entries(specs)) {
    const c = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
    for (const r of Object.values(byId)) c[r.outcome] += 1;
    counts[handler] = c;
  }
  return counts;
}

/** Merges what this process recorded into the results file. */
export async function flushResults(file = RESULTS_FILE): Promise<void> {
  if (pending.length === 0) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lock = `${file}.lock`;
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      // A lock left by a killed process: take it over once it is clearly stale.
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 60_000) fs.rmSync(lock, { force: true });
      if (Date.now() > until) throw new Error(`conformance results: ${lock} held for 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    const data = readResults(file);
    for (const { handler, id, record: rec } of pending.splice(0)) {
      data.specs[handler] ??= {};
      data.specs[handler][id] = rec;
    }
    data.counts = countsOf(data.specs);
    data.updated = new Date().toISOString();
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n');
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(lock, { force: true });
  }
}
