/** Table tests of the rkt backend's pure parts: names, rkt output, command parsing, security policy, spec, CRI. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseRktJson, stringifyRktJson } from '../../src/backends/rkt/api';
import type * as v1 from '../../src/backends/rkt/api';
import { parseArgs, parseCpu, parseVolume } from '../../src/backends/rkt/cli-args';
import { appFacts, criAnnotations, podIps } from '../../src/backends/rkt/convert';
import { containerStatus } from '../../src/router/shape-container';
import { appName, MAX_APP_NAME } from '../../src/backends/rkt/records';
import { milliCores } from '../../src/backends/rkt/rkt-cli/args';
import { classifyRktError, isAlreadyStopped, isStopNotExist } from '../../src/backends/rkt/rkt-cli/errors';
import { containerViolations, enforce, sandboxViolations } from '../../src/backends/rkt/security';
import { RKT_CAPABILITIES } from '../../src/backends/rkt/backend';
import { missingCapability } from '../../src/router/select';
import { buildAppSpec } from '../../src/backends/rkt/spec';
import { processArgs, stopSignal } from '../../src/host/container-process';
import { DEFAULT_HELPER_PATH, rootfsKey, type Stage1Context } from '../../src/backends/rkt/stage1/context';
import { Stage1Layout } from '../../src/backends/rkt/stage1/layout';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';
import { collectGarbage } from '../../src/backends/rkt/stage1/pod-ops';
import { DirRootfsProvider, TEST_IMAGE } from './helpers/rootfs';
import { runCommand } from '../../src/host/process';
import { enterArgv, runScript } from '../../src/backends/rkt/stage1/scripts';
import type * as cri from '../../src/cri/types';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
} from '../../src/errors';
import { nullLogger } from '../../src/log/logger';

function container(over: Partial<cri.ContainerConfig> = {}, sc: Record<string, unknown> = {}): cri.ContainerConfig {
  return {
    metadata: { name: 'web', attempt: 0 },
    image: { image: 'busybox', annotations: {}, user_specified_image: '', runtime_handler: '' },
    command: [],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: '',
    stdin: false,
    stdin_once: false,
    tty: false,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    linux: {
      resources: null,
      security_context: {
        capabilities: null,
        privileged: false,
        namespace_options: null,
        selinux_options: null,
        run_as_user: null,
        run_as_username: '',
        readonly_rootfs: false,
        supplemental_groups: [],
        apparmor_profile: '',
        seccomp_profile_path: '',
        no_new_privs: false,
        run_as_group: null,
        masked_paths: [],
        readonly_paths: [],
        seccomp: null,
        apparmor: null,
        supplemental_groups_policy: 'Merge',
        ...sc,
      },
    },
    ...over,
  } as unknown as cri.ContainerConfig;
}

const STAGE1 = [
  'user',
  'group',
  'supplementalGroups',
  'capabilities',
  'noNewPrivileges',
  'readonlyRootfs',
  'maskedPaths',
  'readonlyPaths',
  'stopSignal',
  'containerPidNamespace',
] as const;

describe('rkt ids', () => {
  it('builds rktlet app names and keeps sanitised collisions apart', () => {
    assert.equal(appName(0, 'web'), '0-web');
    assert.equal(appName(2, 'my-app'), '2-my-app');
    const a = appName(0, 'FooBar');
    const b = appName(0, 'foobar');
    assert.match(a, /^0-foobar-[0-9a-f]{6}$/);
    assert.equal(b, '0-foobar');
    assert.notEqual(a, b);
    assert.match(appName(1, 'a_b.c'), /^1-a-b-c-[0-9a-f]{6}$/);
  });

  it('bounds app names and snapshot keys whatever the CRI name (issue #20)', () => {
    const uuid = '0f0e0d0c-0b0a-4908-8706-050403020100';
    // A kubelet-style name of 60+ characters once overflowed the 128-character snapshot key.
    const kubelet = `container-with-block-hostname-seccomp-profile-test-${uuid}`;
    const key = rootfsKey(uuid, appName(2, kubelet));
    assert.match(key, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/);
    assert.equal(key, rootfsKey(uuid, appName(2, kubelet)), 'stable');
    assert.notEqual(key, rootfsKey(uuid, appName(3, kubelet)));
    const long = 'x'.repeat(253);
    const a = appName(0, long);
    assert.ok(a.length <= MAX_APP_NAME, a);
    assert.match(a, /^[a-z0-9]+(-[a-z0-9]+)*$/);
    assert.notEqual(a, appName(0, `${'x'.repeat(252)}y`), 'names sharing a long prefix stay apart');
    assert.equal(appName(2, kubelet), `2-${kubelet}`, 'names that fit are unchanged');
  });
});

describe('rkt output', () => {
  it('keeps int64 nanosecond times exact both ways', () => {
    const text = '{"name":"x","state":"exited","created_at":1764342380171855381,"finished_at":1764342380171855999}';
    const v = parseRktJson<{ created_at: string }>(text);
    assert.equal(v.created_at, '1764342380171855381');
    assert.equal(stringifyRktJson(v), text);
  });

  it('classifies rkt messages like rktlet cli/errors.go', () => {
    assert.ok(isAlreadyStopped('pod "379ae074-f1ca-4bdc-8493-e7278b00009f" is already stopped'));
    assert.ok(isStopNotExist('stop: cannot get pod: no matches found for "37edaae0-f048-4db5-b3fb-c0de3aa8e9d8"'));
    assert.ok(!isStopNotExist('status: cannot get pod: no matches found for "x"'));
    assert.ok(
      classifyRktError('rkt status', 'status: cannot get pod: no matches found for "u"', 254) instanceof NotFoundError,
    );
    assert.ok(
      classifyRktError('rkt app status', 'status: cannot find app "0-x" in the pod', 1) instanceof NotFoundError,
    );
    assert.ok(
      classifyRktError('rkt app add', 'add: error adding app to pod: multiple apps with name "0-x"', 254) instanceof
        AlreadyExistsError,
    );
    assert.ok(
      classifyRktError('rkt app add', 'add: pod "u" isn\'t currently running', 254) instanceof FailedPreconditionError,
    );
    assert.ok(classifyRktError('rkt rm', 'something else', 254) instanceof InternalError);
  });

  it('converts CPU quota to rkt millicores', () => {
    assert.equal(milliCores(50_000, 100_000), 500);
    assert.equal(milliCores(0, 100_000), 0);
  });
});

describe('rkt-syntax CLI arguments', () => {
  it('parses flags, positionals, exec arguments and stops at the command of app exec', () => {
    const p = parseArgs([
      'app',
      '--dir=/d',
      'add',
      'U',
      'img',
      '--name=0-a',
      '--user-annotation=a=b',
      '--user-annotation=c=d',
      '--exec=/bin/sh',
      '--',
      '-c',
      'echo --x',
      '---',
    ]);
    assert.deepEqual(p.positionals, ['app', 'add', 'U', 'img']);
    assert.deepEqual(p.flags.get('user-annotation'), ['a=b', 'c=d']);
    assert.deepEqual(p.execArgs, ['-c', 'echo --x']);
    const e = parseArgs(['app', 'exec', '--app=0-a', 'U', 'ls', '--color=never'], 3);
    assert.deepEqual(e.positionals, ['app', 'exec', 'U', 'ls', '--color=never']);
    const dd = parseArgs(['app', 'exec', '--app=0-a', '--', 'U', '--split-string=x', '---'], 3);
    assert.deepEqual(dd.positionals, ['app', 'exec', 'U', '--split-string=x', '---']);
    assert.deepEqual(parseVolume('name=v,kind=host,source=/s,target=/t,readOnly=true'), {
      name: 'v',
      hostPath: '/s',
      containerPath: '/t',
      readOnly: true,
    });
    assert.deepEqual(parseCpu('250m'), { cpuQuota: 25_000, cpuPeriod: 100_000 });
  });
});

describe('security policy', () => {
  it('accepts a default container and names the field of what it cannot enforce', () => {
    assert.deepEqual(containerViolations(container(), STAGE1), []);
    const runtimeDefault = container({}, { seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } });
    // The built-in stage1 applies seccomp (issue #20); a pod manager without it names the field.
    assert.deepEqual(containerViolations(runtimeDefault, [...STAGE1, 'seccomp']), []);
    const v = containerViolations(runtimeDefault, STAGE1);
    assert.deepEqual(
      v.map((x) => x.field),
      ['linux.security_context.seccomp'],
    );
    assert.throws(
      () => enforce('create', v, 'reject', nullLogger()),
      (e: unknown) => e instanceof InvalidArgumentError && /linux\.security_context\.seccomp/.test(e.message),
    );
    enforce('create', v, 'warn', nullLogger());
  });
  it('rejects privilege requests whatever the policy', () => {
    // Privilege and host PID/IPC are the router's one check against rkt's capabilities (src/router/select.ts),
    // made before the backend and its securityPolicy are reached.
    const asks = { privileged: false, hostNetwork: false, hostPid: false, hostIpc: false };
    assert.equal(
      missingCapability({ ...asks, privileged: true }, RKT_CAPABILITIES),
      'linux.security_context.privileged',
    );
    assert.match(missingCapability({ ...asks, hostPid: true }, RKT_CAPABILITIES) ?? '', /namespace_options\.pid/);
    assert.equal(missingCapability({ ...asks, hostNetwork: true }, RKT_CAPABILITIES), undefined);
    assert.match(missingCapability({ ...asks, targetPid: true }, RKT_CAPABILITIES) ?? '', /pid=TARGET/);
  });
  it('accepts dropping ALL capabilities, for root and non-root alike (issue #20)', () => {
    const drop = { capabilities: { add_capabilities: [], drop_capabilities: ['ALL'], add_ambient_capabilities: [] } };
    assert.deepEqual(containerViolations(container({}, drop), STAGE1), []);
    assert.deepEqual(containerViolations(container({}, { ...drop, run_as_user: { value: 33 } }), STAGE1), []);
  });
  it('a real rkt cannot set no_new_privs or mask paths', () => {
    const v = containerViolations(container({}, { no_new_privs: true, masked_paths: ['/proc/kcore'] }), [
      'user',
      'group',
    ]);
    assert.deepEqual(v.map((x) => x.field).sort(), [
      'linux.security_context.masked_paths',
      'linux.security_context.no_new_privs',
    ]);
  });
  it('refuses IPC sysctls a pod manager cannot set (host PID/IPC: the router, from RKT_CAPABILITIES)', () => {
    const sb = {
      linux: {
        security_context: { namespace_options: { pid: 'NODE', ipc: 'POD', network: 'POD', userns_options: null } },
        sysctls: { 'kernel.shmmax': '1', 'net.ipv4.ip_forward': '1' },
      },
      windows: null,
    } as unknown as cri.PodSandboxConfig;
    assert.deepEqual(
      sandboxViolations(sb).map((v) => v.field),
      ['linux.sysctls.kernel.shmmax'],
    );
    // The built-in stage1 sets IPC sysctls in the pod's IPC namespace (issue #20).
    assert.deepEqual(
      sandboxViolations(sb, ['ipcSysctls']).map((v) => v.field),
      [],
    );
  });
});

describe('app spec', () => {
  it('follows Docker rules for argv and the stop signal', () => {
    const img = { entrypoint: ['/ep'], cmd: ['a'], stopSignal: 'QUIT' };
    assert.deepEqual(processArgs(container(), img), ['/ep', 'a']);
    assert.deepEqual(processArgs(container({ args: ['b'] }), img), ['/ep', 'b']);
    assert.deepEqual(processArgs(container({ command: ['/c'], args: ['d'] }), img), ['/c', 'd']);
    assert.equal(stopSignal(container(), img), 'SIGQUIT');
    assert.equal(stopSignal(container({ stop_signal: 'SIGINT' } as Partial<cri.ContainerConfig>), img), 'SIGINT');
    assert.equal(stopSignal(container(), { stopSignal: '9' }), 'SIGKILL');
    const spec = (requireExec: boolean) =>
      buildAppSpec({
        id: 'c1',
        app: '0-web',
        image: 'busybox',
        requireExec,
        config: container(),
        imageConfig: {},
        user: { uid: 0, gid: 0, groups: [0], home: '/root' },
      });
    assert.throws(() => spec(true), InvalidArgumentError);
    assert.deepEqual(spec(false).exec, [], 'a real rkt falls back to the image exec');
  });
  it('merges env, defaults paths and maps pid=CONTAINER to a PID namespace of its own', () => {
    const spec = buildAppSpec({
      id: 'c1',
      app: '0-web',
      image: 'busybox',
      requireExec: true,
      config: container(
        { envs: [{ key: 'A', value: '2' }], command: ['sh'] },
        { namespace_options: { pid: 'CONTAINER', ipc: 'POD', network: 'POD' } },
      ),
      imageConfig: { env: ['A=1', 'B=1'] },
      user: { uid: 33, gid: 33, groups: [33, 100], home: '/home/www' },
    });
    assert.deepEqual(spec.environment, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'A=2',
      'B=1',
      'HOME=/home/www',
    ]);
    assert.equal(spec.pidNamespace, 'container');
    assert.ok(spec.maskedPaths.includes('/proc/kcore'));
    assert.deepEqual(spec.supplementaryGids, [33, 100]);
    assert.equal(spec.userAnnotations['crimux.io/container-id'], 'c1');
  });
});

describe('CRI conversion', () => {
  it('reports reasons, strips reserved annotations and prefers rktlet networks', () => {
    const app = {
      name: '0-web',
      state: 'exited',
      exit_code: 0,
      image_id: 'sha256:x',
      user_annotations: { 'crimux.io/container-name': 'web', 'k8s.io/reserved/image-name': 'busybox', mine: '1' },
    } as const;
    const status = (a: v1.App) => containerStatus(appFacts('c', 'p', a, { logPath: '/var/log/pods/x/web/0.log' }));
    assert.equal(status(app).reason, 'Completed');
    assert.equal(status({ ...app, exit_code: 2 }).reason, 'Error');
    assert.equal(
      status({ ...app, exit_code: 137, user_annotations: { 'crimux.io/oom-killed': 'true' } }).reason,
      'OOMKilled',
    );
    assert.equal(status({ ...app, state: 'running' }).state, 'CONTAINER_RUNNING');
    assert.deepEqual(criAnnotations(app.user_annotations), { mine: '1' });
    const st = status(app);
    assert.equal(st.log_path, '/var/log/pods/x/web/0.log');
    assert.equal(st.metadata?.name, 'web');
    assert.equal(st.image?.image, 'busybox');
    const pod: v1.Pod = {
      name: 'u',
      state: 'running',
      networks: [
        { netName: 'x', ifName: 'eth0', ip: '1.1.1.1' },
        { netName: 'default', ifName: 'eth0', ip: '2.2.2.2' },
      ],
    };
    assert.deepEqual(podIps(pod, []), ['2.2.2.2', '1.1.1.1']);
  });
});

describe('stage1 building blocks', () => {
  it('pod removal unmounts app roots it has no app record for (a create killed after preparing the root, #24)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-rkt-gc-'));
    const snap = path.join(dir, 'snap');
    try {
      const base = path.join(dir, 'base');
      await fs.mkdir(base);
      const rootfs = new DirRootfsProvider(base, snap);
      const uuid = '308e6ae7-e846-436f-ae5e-a49b6c4ed14a';
      const other = '11111111-2222-4333-8444-555555555555';
      const layout = new Stage1Layout(path.join(dir, 'data'));
      const paths = layout.pod(uuid, 'exited-garbage');
      // One app with its record; one whose root was prepared (mounted) before any record; a pre-#20 key.
      await fs.mkdir(path.join(paths.appsinfo, 'recorded'), { recursive: true });
      for (const key of [rootfsKey(uuid, 'recorded'), rootfsKey(uuid, '0-app'), `rkt-${uuid}-0-app`])
        await rootfs.prepare(key, TEST_IMAGE);
      await rootfs.prepare(rootfsKey(other, '0-app'), TEST_IMAGE);
      const ctx = { layout, rootfs, log: nullLogger() } as unknown as Stage1Context;
      await collectGarbage(ctx, { uuid, paths, dirState: 'exited-garbage', manifest: undefined, nspawnPid: undefined });
      assert.deepEqual(await rootfs.keys(), [rootfsKey(other, '0-app')], "only the other pod's root is left");
      assert.deepEqual(
        (await mountsUnder(snap)).map((m) => path.relative(snap, m)),
        [`${rootfsKey(other, '0-app')}/rootfs`],
      );
      await assert.rejects(fs.stat(paths.dir), 'the pod dir is gone');
    } finally {
      await unmountAll(dir).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
  it('crimux-stage1 creates paths inside the root, whatever the symlinks say', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-rkt-sj-'));
    try {
      await fs.mkdir(path.join(root, 'etc'));
      await fs.symlink('/etc/shadow', path.join(root, 'etc', 'evil'));
      await fs.symlink('../../../..', path.join(root, 'up'));
      const mk = (p: string) => runCommand(DEFAULT_HELPER_PATH, ['mkdir', '--', root, p], { timeoutMs: 10_000 });
      for (const p of ['/etc/evil', '/up/tmp/x', '../../y']) assert.equal((await mk(p)).code, 0, p);
      assert.ok((await fs.stat(path.join(root, 'etc', 'shadow'))).isDirectory());
      assert.ok((await fs.stat(path.join(root, 'tmp', 'x'))).isDirectory());
      assert.ok((await fs.stat(path.join(root, 'y'))).isDirectory());
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
  it('composes the enter chain: namespaces, empty env, groups, then chroot, bounding set, seccomp, uid, env file', () => {
    const argv = enterArgv({
      pid1: 42,
      root: '/opt/stage2/0-a/rootfs',
      workingDir: '/w',
      uid: 33,
      gid: 33,
      groups: [33, 100],
      bounding: ['CAP_SYS_CHROOT', 'CAP_CHOWN'],
      seccompFile: '/rkt/env/a.seccomp',
      noNewPrivileges: true,
      helper: '/h',
      envFile: '/rkt/env/a',
      argv: ['id'],
    });
    assert.deepEqual(argv.slice(0, 9), ['/usr/bin/nsenter', '-t', '42', '-m', '-u', '-i', '-n', '-p', '--']);
    assert.ok(argv.includes('--groups=33,100') && argv.includes('--regid=33') && argv.includes('--nnp'));
    assert.ok(!argv.some((a) => a.startsWith('--bounding-set')), 'the helper limits the bounding set, after chroot');
    assert.deepEqual(argv.slice(-10), [
      '/h',
      'exec',
      '--uid=33',
      '--caps=0,18',
      '--seccomp=/rkt/env/a.seccomp',
      '--',
      '/rkt/env/a',
      '/opt/stage2/0-a/rootfs',
      '/w',
      'id',
    ]);
    assert.match(
      runScript({ enter: ['a b'], infoDir: '/i', stdin: true, stdinOnce: false }),
      /exec 0<>'\/i\/stdin'\nexec 'a b'/,
    );
  });
});
