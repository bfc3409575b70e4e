/**
 * Reading PromQL for the tests with Prometheus's own grammar (@prometheus-io/lezer-promql, the parser of the
 * Prometheus UI): the syntax errors of an expression, the metric names it selects, the label matchers of each
 * selector, and the labels each aggregation groups by together with the metrics below it.
 */
import type * as LezerPromql from '@prometheus-io/lezer-promql' with { 'resolution-mode': 'import' };

// The grammar package is ESM-only. Node ≥ 20.19 loads it through require() (require(esm)); this CommonJS project
// (tsconfig module node16) cannot express that with a static import, so the types come from a type-only import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parser } = require('@prometheus-io/lezer-promql') as typeof LezerPromql;

export interface Matcher {
  label: string;
  op: string;
  value: string;
}
export interface Selector {
  metric: string;
  matchers: Matcher[];
}
export interface Grouping {
  labels: string[];
  metrics: string[];
}
export interface ParsedQuery {
  errors: string[];
  selectors: Selector[];
  groupings: Grouping[];
}

interface Node {
  name: string;
  from: number;
  to: number;
  children: Node[];
}

function tree(expr: string): Node {
  const cursor = parser.parse(expr).cursor();
  const walk = (): Node => {
    const n: Node = { name: cursor.name, from: cursor.from, to: cursor.to, children: [] };
    if (cursor.firstChild()) {
      do n.children.push(walk());
      while (cursor.nextSibling());
      cursor.parent();
    }
    return n;
  };
  return walk();
}

function all(n: Node, name: string): Node[] {
  return [...(n.name === name ? [n] : []), ...n.children.flatMap((c) => all(c, name))];
}

/** Grafana's interval variables become durations so the query is plain PromQL; other $vars sit inside strings. */
export function substituteGrafana(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m');
}

export function parseQuery(expr: string): ParsedQuery {
  const root = tree(expr);
  const text = (n: Node): string => expr.slice(n.from, n.to);
  const errors = all(root, '⚠').map(
    (n) => `syntax error at ${n.from}: "${expr.slice(Math.max(0, n.from - 20), n.to + 20)}"`,
  );
  const selectorOf = (vs: Node): Selector => {
    const id = vs.children.find((c) => c.name === 'Identifier');
    const matchers = all(vs, 'UnquotedLabelMatcher').map((m) => {
      const label = m.children.find((c) => c.name === 'LabelName');
      const op = m.children.find((c) => c.name === 'MatchOp');
      const value = m.children.find((c) => c.name === 'StringLiteral');
      return {
        label: label ? text(label) : '',
        op: op ? text(op) : '',
        value: value ? (JSON.parse(text(value).replace(/^'|'$/g, '"')) as string) : '',
      };
    });
    return { metric: id ? text(id) : '', matchers };
  };
  const selectors = all(root, 'VectorSelector').map(selectorOf);
  const groupings = all(root, 'AggregateExpr').map((agg) => {
    const modifier = agg.children.find((c) => c.name === 'AggregateModifier');
    return {
      labels: modifier ? all(modifier, 'LabelName').map(text) : [],
      metrics: all(agg, 'VectorSelector').map((vs) => selectorOf(vs).metric),
    };
  });
  return { errors, selectors, groupings };
}
