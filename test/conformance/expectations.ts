/**
 * What each handler is expected to do with each conformance spec, filled in from what the suite observed:
 * - `pass` (the default for every spec not listed): the spec passes as upstream's does;
 * - `{ refuse: FIELD }`: the handler refuses by design (documented in the README's backends table); the spec
 *   must end in InvalidArgument or Unimplemented whose message names FIELD, and passing instead is a failure;
 * - `{ todo: 'issue #N: reason' }`: a known gap; the spec still runs and is reported as a node:test todo, so it
 *   neither hides nor fails CI. runc and runc-b never carry a todo (checked below).
 *
 * Keys are spec ids (`area/what`, see specs/*.ts). One line per spec and handler keeps parallel edits mergeable.
 */
import type { HandlerName } from './handlers';

export type Expectation = 'pass' | { readonly refuse: string } | { readonly todo: string };

type Table = Readonly<Record<string, Partial<Record<HandlerName, Expectation>>>>;

export const EXPECTATIONS: Table = {
  // --- runtime info, pods, networking, containers, logs, exec, stats, images (conformance) ---------------
  // --- security context, namespaces, mount propagation, sysctls, devices, volumes, streaming (conformance-b) ---
};

const NEVER_TODO: readonly HandlerName[] = ['runc', 'runc-b'];

/** The expectation of one handler for one spec. */
export function expectationOf(handler: HandlerName, specId: string): Expectation {
  return EXPECTATIONS[specId]?.[handler] ?? 'pass';
}

/** A problem with the table itself (a todo on runc, a todo without an issue number), or undefined. */
export function tableProblem(table: Table = EXPECTATIONS): string | undefined {
  for (const [spec, byHandler] of Object.entries(table)) {
    for (const [handler, exp] of Object.entries(byHandler)) {
      if (typeof exp !== 'object' || !('todo' in exp)) continue;
      if (NEVER_TODO.includes(handler as HandlerName)) return `${spec}: ${handler} may not carry a todo`;
      if (!/^issue #\d+: \S/.test(exp.todo)) return `${spec}: ${handler}: a todo reads "issue #N: reason"`;
    }
  }
  return undefined;
}
