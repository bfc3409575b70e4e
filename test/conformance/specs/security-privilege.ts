/**
 * Security context, privilege (cri-tools pkg/validate/security_context_linux.go, "bucket" and "NoNewPrivs"):
 * privileged or not, capabilities added, dropped, all added, all dropped, and no_new_privs. Network management
 * (creating a bridge in the pod's network namespace) tells whether CAP_NET_ADMIN is held, as upstream checks it;
 * each attempt uses a bridge name of its own so specs sharing a pod never see each other's bridge.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { defaultPod } from './security-user';
import { containerSecurity, podLinux, type Spec, type Workload } from './workload';

export const privilegedPod = (w: Workload) =>
  w.sharedPod(
    'privileged',
    'create-Privileged-PodSandbox-for-container-',
    podLinux({ security_context: { privileged: true } }),
  );

/** Whether the container may create (and then deletes) a bridge: upstream's checkNetworkManagement. */
async function canManageNetwork(w: Workload, id: string): Promise<boolean> {
  const br = `cbr${randomBytes(4).toString('hex')}`;
  const r = await w.exec(id, ['brctl', 'addbr', br]);
  if (r.code === 0) {
    await w.exec(id, ['brctl', 'delbr', br]);
    return true;
  }
  assert.match(r.stderr, /not permitted/i, `brctl addbr failed for another reason: ${r.stderr}`);
  return false;
}

/** A /proc/self/status field of a process in the container. */
async function statusField(w: Workload, id: string, field: string): Promise<string> {
  const out = await w.execOk(id, ['grep', `^${field}:`, '/proc/self/status']);
  return out.split(':')[1]?.trim() ?? '';
}

async function noNewPrivs(w: Workload, set: boolean): Promise<void> {
  const pod = await defaultPod(w);
  const id = await w.run(
    pod,
    `busybox-nnp-${set}-`,
    containerSecurity({ no_new_privs: set, run_as_user: { value: 1000 } }),
  );
  assert.equal(await statusField(w, id, 'NoNewPrivs'), set ? '1' : '0');
}

export const SECURITY_PRIVILEGE_SPECS: readonly Spec[] = [
  {
    id: 'security/privileged-true',
    title: 'runtime should support Privileged is true',
    async run(w) {
      const pod = await privilegedPod(w);
      const id = await w.run(pod, 'container-with-isPrivileged-test-', containerSecurity({ privileged: true }));
      assert.equal(await canManageNetwork(w, id), true);
    },
  },
  {
    id: 'security/privileged-false',
    title: 'runtime should support Privileged is false',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(pod, 'container-with-notPrivileged-test-', containerSecurity({ privileged: false }));
      assert.equal(await canManageNetwork(w, id), false);
    },
  },
  {
    id: 'security/capability-add',
    title: 'runtime should support adding capability',
    async run(w) {
      const pod = await defaultPod(w);
      const added = await w.run(
        pod,
        'container-with-added-capability-test-',
        containerSecurity({ capabilities: { add_capabilities: ['NET_ADMIN'] } }),
      );
      assert.equal(await canManageNetwork(w, added), true);
      const plain = await w.run(pod, 'container-with-notCapability-test-');
      assert.equal(await canManageNetwork(w, plain), false);
    },
  },
  {
    id: 'security/capability-drop',
    title: 'runtime should support dropping capability',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(
        pod,
        'container-with-dropped-capability-test-',
        containerSecurity({ capabilities: { drop_capabilities: ['NET_RAW'] } }),
      );
      const r = await w.exec(id, ['ping', '-c', '1', '-W', '1', '127.0.0.1']);
      assert.notEqual(r.code, 0, `ping without CAP_NET_RAW succeeded: ${r.stdout}`);
      assert.match(r.stderr, /permission denied|not permitted/i);
    },
  },
  {
    id: 'security/capability-add-all',
    title: 'runtime should support adding ALL capabilities',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(
        pod,
        'container-with-added-all-capability-test-',
        containerSecurity({ capabilities: { add_capabilities: ['ALL'] } }),
      );
      assert.notEqual(BigInt(`0x${await statusField(w, id, 'CapBnd')}`), 0n);
      assert.equal(await canManageNetwork(w, id), true);
    },
  },
  {
    id: 'security/capability-drop-all',
    title: 'runtime should support dropping ALL capabilities',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(
        pod,
        'container-with-dropped-all-capability-test-',
        containerSecurity({ capabilities: { drop_capabilities: ['ALL'] } }),
      );
      assert.equal(await statusField(w, id, 'CapBnd'), '0000000000000000');
    },
  },
  {
    id: 'security/no-new-privs-true',
    title: 'NoNewPrivs should not allow privilege escalation when true',
    run: (w) => noNewPrivs(w, true),
  },
  {
    id: 'security/no-new-privs-false',
    title: 'NoNewPrivs should allow privilege escalation when false',
    run: (w) => noNewPrivs(w, false),
  },
];
