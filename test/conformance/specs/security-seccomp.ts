/**
 * Security context, seccomp (cri-tools pkg/validate/security_context_linux.go, "SeccompProfilePath"): the
 * structured SecurityProfile (Unconfined, Localhost, RuntimeDefault, none at all) on the pod and the container,
 * the legacy seccomp_profile_path strings kubelets before 1.25 sent ("unconfined", "runtime/default",
 * "docker/default", "localhost/<path>", and a bare path, which must be refused), sethostname with CAP_SYS_ADMIN
 * under each, and a privileged container ignoring its profile.
 *
 * /proc/self/status says which mode a process runs in (Seccomp: 0 none, 2 filter). The profiles are the
 * upstream ones: one denies chmod/fchmodat, one denies sethostname.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { grpc, rejectsWithCode } from '../../helpers/cri-client';
import { privilegedPod } from './security-privilege';
import { defaultPod } from './security-user';
import { containerSecurity, podLinux, type Json, type Spec, type Workload } from './workload';

const denying = (names: string[]): string =>
  JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names, action: 'SCMP_ACT_ERRNO' }] });

/** Host directories whose profiles are written. */
const written = new Set<string>();

/**
 * The two upstream test profiles, written once per host directory and each by a rename: the handlers run in
 * parallel over one directory, and rewriting a profile in place let another handler's daemon read it half-written
 * (an empty file: "not JSON").
 */
function profiles(w: Workload): { blockChmod: string; blockHostname: string } {
  const blockChmod = path.join(w.hostDir, 'block-chmod.json');
  const blockHostname = path.join(w.hostDir, 'block-host-name.json');
  if (!written.has(w.hostDir)) {
    for (const [file, text] of [
      [blockChmod, denying(['chmod', 'fchmodat'])],
      [blockHostname, denying(['sethostname'])],
    ] as const) {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    }
    written.add(w.hostDir);
  }
  return { blockChmod, blockHostname };
}

const seccompMode = async (w: Workload, id: string): Promise<string> =>
  (await w.execOk(id, ['grep', '^Seccomp:', '/proc/self/status'])).split(':')[1]?.trim() ?? '';

/** upstream's seccompTestContainer: the profile on the pod and on the container (undefined: none at all). */
async function seccompPodContainer(w: Workload, key: string, profile: Json | undefined): Promise<string> {
  const sc = profile ? { seccomp: profile } : {};
  const pod = await w.sharedPod(`seccomp-${key}`, 'seccomp-sandbox-', podLinux({ security_context: sc }));
  return w.run(pod, 'seccomp-container-', containerSecurity(sc));
}

/** upstream's createSeccompContainer + checkSetHostname, in a pod of their own (sethostname changes the pod's). */
async function sethostname(w: Workload, sc: Json, expectAllowed: boolean, privileged = false): Promise<void> {
  const pod = privileged ? await privilegedPod(w) : await w.sharedPod('hostname', 'create-PodSandbox-for-container-');
  const id = await w.run(pod, 'container-with-block-hostname-seccomp-profile-test-', {
    command: ['sleep', '60'],
    ...containerSecurity({ privileged, ...sc }),
  });
  const r = await w.exec(id, ['hostname', 'ANewHostName']);
  if (expectAllowed) assert.equal(r.code, 0, `sethostname refused: ${r.stderr}`);
  else assert.notEqual(r.code, 0, 'sethostname allowed');
}

const SYS_ADMIN = { capabilities: { add_capabilities: ['SYS_ADMIN'] } };

export const SECURITY_SECCOMP_SPECS: readonly Spec[] = [
  {
    id: 'seccomp/unconfined',
    title: 'should support seccomp unconfined on the container',
    async run(w) {
      assert.equal(
        await seccompMode(w, await seccompPodContainer(w, 'unconfined', { profile_type: 'Unconfined' })),
        '0',
      );
    },
  },
  {
    id: 'seccomp/localhost',
    title: 'should support seccomp localhost profile on the container',
    async run(w) {
      const id = await seccompPodContainer(w, 'localhost', {
        profile_type: 'Localhost',
        localhost_ref: profiles(w).blockChmod,
      });
      const r = await w.exec(id, ['chmod', '400', '/']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Operation not permitted/);
    },
  },
  {
    id: 'seccomp/runtime-default',
    title: 'should support seccomp default on the container',
    async run(w) {
      assert.equal(
        await seccompMode(w, await seccompPodContainer(w, 'runtime-default', { profile_type: 'RuntimeDefault' })),
        '2',
      );
    },
  },
  {
    id: 'seccomp/nil',
    title: 'should support nil profile, which is unconfined',
    async run(w) {
      const pod = await defaultPod(w);
      assert.equal(await seccompMode(w, await w.run(pod, 'seccomp-container-')), '0');
    },
  },
  {
    id: 'seccomp/unconfined-sethostname-sys-admin',
    title: 'runtime should not block setting host name with unconfined seccomp and SYS_ADMIN',
    run: (w) => sethostname(w, { seccomp: { profile_type: 'Unconfined' }, ...SYS_ADMIN }, true),
  },
  {
    id: 'seccomp/localhost-blocks-sethostname',
    title: 'runtime should support an seccomp profile that blocks setting hostname with SYS_ADMIN',
    run: (w) =>
      sethostname(
        w,
        { seccomp: { profile_type: 'Localhost', localhost_ref: profiles(w).blockHostname }, ...SYS_ADMIN },
        false,
      ),
  },
  {
    id: 'seccomp/privileged-ignores-profile',
    title: 'runtime should ignore a seccomp profile that blocks setting hostname when privileged',
    run: (w) =>
      sethostname(w, { seccomp: { profile_type: 'Localhost', localhost_ref: profiles(w).blockHostname } }, true, true),
  },
  {
    id: 'seccomp/legacy-unconfined',
    title: 'should support the legacy seccomp_profile_path "unconfined"',
    async run(w) {
      const id = await w.run(
        await defaultPod(w),
        'seccomp-container-',
        containerSecurity({ seccomp_profile_path: 'unconfined' }),
      );
      assert.equal(await seccompMode(w, id), '0');
    },
  },
  {
    id: 'seccomp/legacy-runtime-default',
    title: 'should support seccomp runtime/default on the container',
    async run(w) {
      const id = await w.run(
        await defaultPod(w),
        'seccomp-container-',
        containerSecurity({ seccomp_profile_path: 'runtime/default' }),
      );
      assert.equal(await seccompMode(w, id), '2');
    },
  },
  {
    id: 'seccomp/legacy-docker-default',
    title: 'should support seccomp docker/default on the container',
    async run(w) {
      const id = await w.run(
        await defaultPod(w),
        'seccomp-container-',
        containerSecurity({ seccomp_profile_path: 'docker/default' }),
      );
      assert.equal(await seccompMode(w, id), '2');
    },
  },
  {
    id: 'seccomp/legacy-docker-default-sethostname-sys-admin',
    title: 'runtime should support setting hostname with docker/default seccomp profile and SYS_ADMIN',
    run: (w) => sethostname(w, { seccomp_profile_path: 'docker/default', ...SYS_ADMIN }, true),
  },
  {
    id: 'seccomp/legacy-docker-default-blocks-sethostname',
    title: 'runtime should block sethostname with docker/default seccomp profile and no extra caps',
    run: (w) => sethostname(w, { seccomp_profile_path: 'docker/default' }, false),
  },
  {
    id: 'seccomp/legacy-localhost',
    title: 'should support seccomp localhost/profile on the container',
    async run(w) {
      const sc = { seccomp_profile_path: `localhost/${profiles(w).blockChmod}` };
      const id = await w.run(await defaultPod(w), 'seccomp-container-', containerSecurity(sc));
      const r = await w.exec(id, ['chmod', '400', '/']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Operation not permitted/);
    },
  },
  {
    id: 'seccomp/legacy-without-localhost-prefix',
    title: 'runtime should not support a custom seccomp profile without using localhost/ as a prefix',
    async run(w) {
      const pod = await defaultPod(w);
      const err = await rejectsWithCode(
        w.create(pod, 'container-with-block-hostname-seccomp-profile-test-', {
          command: ['sleep', '60'],
          ...containerSecurity({ seccomp_profile_path: profiles(w).blockHostname }),
        }),
        grpc.status.INVALID_ARGUMENT,
      );
      assert.match(err.details, /seccomp_profile_path/);
    },
  },
];
