/**
 * The conformance harness's own rules (test/conformance): how a spec's result is judged under each expectation,
 * that the expectation table never lets runc carry a todo, which handlers a run selects, and the README table
 * rendered from the results file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTable } from '../../scripts/conformance-table';
import { tableProblem } from '../conformance/expectations';
import { judge } from '../conformance/harness';
import { selectedHandlers } from '../conformance/handlers';
import { countsOf } from '../conformance/results';

const refused = Object.assign(new Error('x'), {
  code: 3,
  details: 'validate config.linux.security_context.privileged: refused',
});

test('judge: pass, todo and refuse expectations', () => {
  assert.equal(judge('pass', undefined).outcome, 'pass');
  assert.equal(judge('pass', new Error('boom')).outcome, 'fail');
  assert.equal(judge({ todo: 'issue #1: x' }, new Error('boom')).outcome, 'todo-fail');
  assert.equal(judge({ todo: 'issue #1: x' }, undefined).outcome, 'todo-pass');
  const field = 'security_context.privileged';
  assert.equal(judge({ refuse: field }, refused).outcome, 'refuse');
  assert.equal(judge({ refuse: field }, undefined).outcome, 'fail', 'passing instead of refusing is a failure');
  assert.equal(judge({ refuse: 'other.field' }, refused).outcome, 'fail', 'the refusal must name the field');
  assert.equal(judge({ refuse: field }, Object.assign(new Error(), { code: 13, details: field })).outcome, 'fail');
});

test('the expectation table: no todo on runc or runc-b, every todo names an issue', () => {
  assert.equal(tableProblem(), undefined);
  assert.match(tableProblem({ 'a/b': { runc: { todo: 'issue #1: x' } } }) ?? '', /runc may not carry a todo/);
  assert.match(tableProblem({ 'a/b': { vm: { todo: 'someday' } } }) ?? '', /issue #N/);
});

test('CRIMUX_CONFORMANCE_HANDLERS selects handlers; unknown names are refused', () => {
  assert.equal(selectedHandlers('').length, 5);
  assert.deepEqual(
    selectedHandlers('vm, runc').map((h) => h.name),
    ['runc', 'vm'],
  );
  assert.throws(() => selectedHandlers('crun'), /unknown handler "crun"/);
});

test('the README table counts outcomes per handler', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const rec = (outcome: 'pass' | 'todo-fail') => ({ title: 't', file: 'f', outcome, ms: 1, at });
  const specs = { runc: { a: rec('pass'), b: rec('pass') }, vm: { a: rec('pass'), b: rec('todo-fail') } };
  const table = renderTable({ updated: at, counts: countsOf(specs), specs });
  assert.match(table, /\| `runc` \| 2 \| 2 \| 0 \| 0 \/ 0 \| 0 \| 0 \|/);
  assert.match(table, /\| `vm` \| 2 \| 1 \| 0 \| 1 \/ 0 \| 0 \| 0 \|/);
});
