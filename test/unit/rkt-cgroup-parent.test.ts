/**
 * The rkt stage1's pod parent (src/backends/rkt/cgroup-parent.ts): a systemd-driver kubelet's slice goes to the
 * slice's directory, a cgroupfs path stays as given, and a malformed slice is refused naming the field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stage1CgroupParent } from '../../src/backends/rkt/cgroup-parent';

describe('rkt stage1 cgroup parent', () => {
  it('puts a pod of a systemd-driver kubelet into its slice’s directory', () => {
    assert.equal(
      stage1CgroupParent('kubepods-burstable-pod1234_5678.slice'),
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice',
    );
    assert.equal(stage1CgroupParent('kubepods.slice'), '/kubepods.slice');
  });

  it('keeps cgroupfs paths and the empty default as they are', () => {
    assert.equal(stage1CgroupParent('/kubepods/burstable/pod1'), '/kubepods/burstable/pod1');
    assert.equal(stage1CgroupParent('pods'), 'pods');
    assert.equal(stage1CgroupParent(''), '');
  });

  it('refuses a malformed slice, naming the field', () => {
    assert.throws(
      () => stage1CgroupParent('kubepods--bad.slice'),
      (err: Error & { kind?: string }) => err.kind === 'InvalidArgument' && /linux\.cgroup_parent/.test(err.message),
    );
  });
});
