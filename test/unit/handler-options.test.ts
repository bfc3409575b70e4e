/**
 * The table-driven handler options (src/config/handler-options.ts) as the runc, vm and docker backends use them:
 * values read and defaulted as before, every key of the table present in the result, and each refusal an
 * InvalidArgumentError that names the key, in the words the backends used before the table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHandlerOptions, positiveInt, stringList } from '../../src/config/handler-options';
import { parseHandlerOptions as dockerOptions } from '../../src/backends/docker/options';
import { parseHandlerOptions as runcOptions } from '../../src/backends/runc/options';
import { handlerOptions as vmOptions } from '../../src/backends/vm/options';

const spec = <B extends 'runc' | 'vm' | 'docker'>(backend: B, options: Record<string, unknown>) => ({
  name: 'h1',
  backend,
  options,
});

const refused = (fn: () => unknown, message: string): void =>
  assert.throws(fn, (e: unknown) => (e as Error).name === 'InvalidArgumentError' && (e as Error).message === message);

describe('handler options', () => {
  it('gives every key of the table, undefined where the config has none', () => {
    const o = parseHandlerOptions({ name: 'x', options: { n: 2 } }, { n: positiveInt, args: stringList }, 'ctx');
    assert.deepEqual(o, { n: 2, args: undefined });
  });

  it('runc: paths normalised, defaults applied, the old messages', () => {
    const defaults = { runtimePath: '/usr/bin/runc', runDir: '/run/crimux/runc' };
    assert.deepEqual(runcOptions(spec('runc', { runtimeRoot: '/r//a/../b/', runtimeArgs: ['--debug'] }), defaults), {
      name: 'h1',
      runtimePath: '/usr/bin/runc',
      runtimeRoot: '/r/b/',
      runtimeArgs: ['--debug'],
    });
    assert.deepEqual(runcOptions(spec('runc', {}), defaults), {
      name: 'h1',
      runtimePath: '/usr/bin/runc',
      runtimeRoot: '/run/crimux/runc/root/h1',
      runtimeArgs: [],
    });
    refused(
      () => runcOptions(spec('runc', { root: '/x' }), defaults),
      'configure runc handler: handlers.h1.options.root: unknown option (known: runtimePath, runtimeRoot, runtimeArgs)',
    );
    refused(
      () => runcOptions(spec('runc', { runtimePath: 'runc' }), defaults),
      'configure runc handler: handlers.h1.options.runtimePath: must be an absolute path',
    );
    refused(
      () => runcOptions(spec('runc', { runtimeArgs: ['--debug', 1] }), defaults),
      'configure runc handler: handlers.h1.options.runtimeArgs: must be a list of strings',
    );
  });

  it('vm: positive integers and a boolean', () => {
    assert.deepEqual(vmOptions(spec('vm', { vcpus: 2, template: false })), {
      memoryMiB: undefined,
      vcpus: 2,
      template: false,
    });
    for (const bad of [0, -1, 1.5, '256'])
      refused(
        () => vmOptions(spec('vm', { memoryMiB: bad })),
        'create vm backend: handlers.h1.options.memoryMiB: must be a positive integer',
      );
    refused(
      () => vmOptions(spec('vm', { template: 'no' })),
      'create vm backend: handlers.h1.options.template: must be a boolean',
    );
    refused(
      () => vmOptions(spec('vm', { cpus: 1 })),
      'create vm backend: handlers.h1.options.cpus: unknown option (known: memoryMiB, vcpus, template)',
    );
  });

  it('docker: a runtime name, dockerd’s default when absent', () => {
    assert.deepEqual(dockerOptions(spec('docker', { dockerRuntime: 'runsc' })), { dockerRuntime: 'runsc' });
    assert.deepEqual(dockerOptions(spec('docker', {})), { dockerRuntime: '' });
    refused(
      () => dockerOptions(spec('docker', { dockerRuntime: 'a b' })),
      'configure docker backend: handlers.h1.options.dockerRuntime: must be a Docker runtime name',
    );
    refused(
      () => dockerOptions(spec('docker', { runtime: 'runc' })),
      'configure docker backend: handlers.h1.options.runtime: unknown option (known: dockerRuntime)',
    );
  });
});
