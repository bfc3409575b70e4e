/**
 * Security context, file system (cri-tools pkg/validate/security_context_linux.go, "bucket"): a read-only or
 * writable root file system, masked paths and read-only paths given by the kubelet. Container-level settings
 * only, so they share the default pod.
 */
import assert from 'node:assert/strict';
import { defaultPod } from './security-user';
import { containerSecurity, type Spec, type Workload } from './workload';

async function rootfs(w: Workload, readonly: boolean): Promise<void> {
  const pod = await defaultPod(w);
  const { logPath } = await w.runToExit(pod, `container-with-ReadOnlyRootfs-${readonly}-test-`, {
    command: ['sh', '-c', "touch test.go && [ -f test.go ] && echo 'Found'"],
    ...containerSecurity({ readonly_rootfs: readonly }),
  });
  if (readonly) assert.deepEqual(await w.logLines(pod, logPath, 'stderr'), ['touch: test.go: Read-only file system']);
  else assert.deepEqual(await w.logLines(pod, logPath, 'stdout'), ['Found']);
}

export const SECURITY_FS_SPECS: readonly Spec[] = [
  {
    id: 'security/readonly-rootfs-false',
    title: 'runtime should support that ReadOnlyRootfs is false',
    run: (w) => rootfs(w, false),
  },
  {
    id: 'security/readonly-rootfs-true',
    title: 'runtime should support that ReadOnlyRootfs is true',
    run: (w) => rootfs(w, true),
  },
  {
    id: 'security/masked-paths',
    title: 'runtime should support MaskedPaths',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(pod, 'container-with-maskedpaths', containerSecurity({ masked_paths: ['/bin/ls'] }));
      const r = await w.exec(id, ['/bin/sh', '-c', 'ls']);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr, '/bin/sh: ls: Permission denied\n');
    },
  },
  {
    id: 'security/readonly-paths',
    title: 'runtime should support ReadonlyPaths',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(pod, 'container-with-readonlypaths', containerSecurity({ readonly_paths: ['/tmp'] }));
      const r = await w.exec(id, ['touch', '/tmp/test']);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr, 'touch: /tmp/test: Read-only file system\n');
    },
  },
];
