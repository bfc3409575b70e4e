/**
 * Runtime info (cri-tools pkg/validate/runtime_info.go): Version answers with every field, and Status reports
 * RuntimeReady and NetworkReady.
 */
import assert from 'node:assert/strict';
import type { Spec } from '../harness';

export const RUNTIME_INFO_SPECS: readonly Spec[] = [
  {
    id: 'runtime/version',
    title: 'runtime should return version info',
    async run(c) {
      const v = await c.rt('Version', { version: '0.1.0' });
      assert.ok(v.version, 'version');
      assert.ok(v.runtime_name, 'runtime_name');
      assert.ok(v.runtime_version, 'runtime_version');
      assert.ok(v.runtime_api_version, 'runtime_api_version');
    },
  },
  {
    id: 'runtime/status',
    title: 'runtime should return runtime conditions',
    async run(c) {
      const s = await c.rt('Status', { verbose: false });
      const ready = (type: string): boolean =>
        (s.status?.conditions ?? []).some((cond) => cond.type === type && cond.status);
      assert.ok(ready('RuntimeReady'), `RuntimeReady: ${JSON.stringify(s.status?.conditions)}`);
      assert.ok(ready('NetworkReady'), `NetworkReady: ${JSON.stringify(s.status?.conditions)}`);
      // The handler this run exercises is one the runtime announces (what the kubelet reads for RuntimeClasses).
      const handlers = (s.runtime_handlers ?? []).map((h) => h.name);
      assert.ok(handlers.includes(c.handler.name), `runtime_handlers ${JSON.stringify(handlers)}`);
    },
  },
];
