/**
 * Security context, identity (cri-tools pkg/validate/security_context_linux.go, "bucket" and
 * "SupplementalGroupsPolicy"): run as a UID, a user name from the image, a UID and GID; RunAsGroup without
 * RunAsUser is refused; supplemental groups given explicitly and those the image's /etc/group lists for the
 * primary UID. These set nothing on the pod, so they share one default pod per handler.
 */
import assert from 'node:assert/strict';
import { CRI_PREDEFINED_GROUP, USERS } from '../../fixtures/images';
import { grpc, rejectsWithCode } from '../../helpers/cri-client';
import { containerSecurity, type Spec, type Workload } from './workload';

export const defaultPod = (w: Workload) => w.sharedPod('default', 'create-PodSandbox-for-container-');

const groupsOf = (out: string): number[] =>
  out
    .trim()
    .split(/\s+/)
    .map(Number)
    .sort((a, b) => a - b);

export const SECURITY_USER_SPECS: readonly Spec[] = [
  {
    id: 'security/run-as-user',
    title: 'runtime should support RunAsUser',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(
        pod,
        'container-with-RunAsUser-test-',
        containerSecurity({ run_as_user: { value: 1001 } }),
      );
      assert.equal(await w.execOk(id, ['id', '-u']), '1001\n');
    },
  },
  {
    id: 'security/run-as-username',
    title: 'runtime should support RunAsUserName',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(
        pod,
        'container-with-RunAsUserName-test-',
        containerSecurity({ run_as_username: 'nobody' }),
      );
      assert.equal(await w.execOk(id, ['id', '-nu']), 'nobody\n');
      assert.equal(await w.execOk(id, ['id', '-u']), `${USERS.nobody.uid}\n`);
    },
  },
  {
    id: 'security/run-as-group',
    title: 'runtime should support RunAsGroup',
    async run(w) {
      const pod = await defaultPod(w);
      const { logPath } = await w.runToExit(pod, 'container-with-RunAsGroup-test-', {
        command: ['sh', '-c', 'echo $(id -u):$(id -g)'],
        ...containerSecurity({ run_as_user: { value: 1001 }, run_as_group: { value: 1002 } }),
      });
      assert.deepEqual(await w.logLines(pod, logPath, 'stdout'), ['1001:1002']);
    },
  },
  {
    id: 'security/run-as-group-without-user',
    title: 'runtime should return error if RunAsGroup is set without RunAsUser',
    async run(w) {
      const pod = await defaultPod(w);
      const err = await rejectsWithCode(
        w.create(pod, 'container-with-RunAsGroup-without-RunAsUser-test-', {
          command: ['sh', '-c', 'echo $(id -u):$(id -g)'],
          ...containerSecurity({ run_as_group: { value: 1002 } }),
        }),
        grpc.status.INVALID_ARGUMENT,
      );
      assert.match(err.details, /run_as_group/);
    },
  },
  {
    id: 'security/supplemental-groups',
    title: 'runtime should support SupplementalGroups',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(
        pod,
        'container-with-SupplementalGroups-test-',
        containerSecurity({ supplemental_groups: [1234, 5678] }),
      );
      const groups = groupsOf(await w.execOk(id, ['id', '-G']));
      assert.ok(groups.includes(1234) && groups.includes(5678), `id -G: ${groups.join(' ')}`);
    },
  },
  {
    id: 'security/supplemental-groups-from-image',
    // SupplementalGroupsPolicy=Merge (the default): the groups the image's /etc/group gives the primary UID are
    // kept beside the explicit ones, for the first process and for exec'd ones alike, and ContainerStatus says so.
    title:
      "if the container's primary UID belongs to some groups in the image, runtime should add SupplementalGroups to them",
    async run(w) {
      const pod = await defaultPod(w);
      const img = CRI_PREDEFINED_GROUP;
      const { id, logPath } = await w.create(pod, 'container-with-SupplementalGroupsPolicyMerge-', {
        image: { image: img.ref },
        command: ['sh', '-c', 'id -G; while :; do sleep 1; done'],
        ...containerSecurity({ run_as_user: { value: img.uid }, supplemental_groups: [1234] }),
      });
      await w.start(id);
      await w.waitState(id, 'CONTAINER_RUNNING');
      // uid 1000's own group, the explicit one, and the one the image's /etc/group lists it in
      const expected = [img.uid, 1234, img.gid];
      const [first] = await w.logLines(pod, logPath, 'stdout');
      assert.deepEqual(groupsOf(first ?? ''), expected, 'groups of the first process');
      assert.deepEqual(groupsOf(await w.execOk(id, ['id', '-G'])), expected, "groups of an exec'd process");
      const user = (await w.status(id)).user?.linux;
      assert.ok(user, 'ContainerStatus.user.linux is set');
      assert.equal(Number(user.uid), img.uid);
      assert.equal(Number(user.gid), img.uid);
      assert.deepEqual(
        groupsOf((user.supplemental_groups ?? []).join(' ')),
        expected,
        'ContainerStatus.user.linux.supplemental_groups',
      );
    },
  },
];
