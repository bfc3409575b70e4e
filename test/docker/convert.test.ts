/** Table tests of the pure CRI ⇄ Docker conversions. */
import { describe, it } from 'node:test';
import { criMount } from '../helpers/cri-mount';
import assert from 'node:assert/strict';
import {
  containerCreateBody,
  stopSignalName,
  toBinds,
  type ContainerBodyInput,
} from '../../src/backends/docker/convert-container';
import { sandboxCreateBody } from '../../src/backends/docker/convert-sandbox';
import { toDockerResources } from '../../src/backends/docker/convert-resources';
import { clampOomScoreAdj } from '../../src/host/cri-resources';
import { toContainerFacts } from '../../src/backends/docker/convert-status';
import { containerStatus } from '../../src/router/shape-container';
import { toContainerUsage } from '../../src/backends/docker/stats';
import { sumContainerUsage } from '../../src/backends/docker/pod-stats';
import { parseNetDev } from '../../src/host/net-dev';
import { containerLabels } from '../../src/backends/docker/records';
import type { ContainerInspect, ContainerState } from '../../src/backends/docker/engine-types';
import type { ContainerUsage } from '../../src/backends/backend';
import type * as cri from '../../src/cri/types';
import { containerConfig, sandboxConfig, type TestEnv } from './env';

const env = { logDir: '/var/log/pods' } as TestEnv;

const mount = criMount;

function securityContext(
  p: Record<string, unknown> = {},
): NonNullable<cri.ContainerConfig['linux']>['security_context'] {
  return {
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
    ...p,
  } as never;
}

function input(config: cri.ContainerConfig, p: Partial<ContainerBodyInput> = {}): ContainerBodyInput {
  return {
    id: 'cid',
    sandboxId: 'sid',
    pauseId: 'pause',
    config,
    sandboxConfig: sandboxConfig(env, 'p'),
    imageId: 'sha256:img',
    imageRef: 'ref',
    createdAt: '1',
    logPath: '/l',
    dockerRuntime: 'runc',
    logConfig: { Type: 'json-file' },
    oomScoreAdjFloor: 0,
    ...p,
  };
}

describe('container create body', () => {
  it('keeps Kubernetes command/args semantics', () => {
    const cases: [Partial<cri.ContainerConfig>, string[] | undefined, string[] | undefined][] = [
      [{}, undefined, undefined],
      [{ command: ['/bin/sh'] }, ['/bin/sh'], undefined],
      [{ args: ['-c', 'x'] }, undefined, ['-c', 'x']],
      [{ command: ['sh'], args: ['-c', 'x'] }, ['sh'], ['-c', 'x']],
    ];
    for (const [o, entry, cmd] of cases) {
      const { body } = containerCreateBody(input(containerConfig('c', 'i', o)));
      assert.deepEqual([body.Entrypoint, body.Cmd], [entry, cmd], JSON.stringify(o));
    }
  });

  it('joins the pause container and maps pid modes', () => {
    const modes: [string, string | undefined][] = [
      ['POD', 'container:pause'],
      ['CONTAINER', undefined],
      ['NODE', 'host'],
      ['TARGET', 'container:tgt'],
    ];
    for (const [pid, want] of modes) {
      const cfg = containerConfig('c', 'i', {
        linux: {
          resources: null,
          security_context: securityContext({
            namespace_options: { network: 'POD', pid, ipc: 'POD', target_id: 't', userns_options: null },
          }),
        },
      });
      const { body } = containerCreateBody(input(cfg, { pidTargetId: 'tgt' }));
      assert.equal(body.HostConfig.PidMode, want, pid);
      assert.equal(body.HostConfig.NetworkMode, 'container:pause');
      assert.equal(body.HostConfig.IpcMode, 'container:pause');
    }
  });

  it('translates env, user, security and devices', () => {
    const cfg = containerConfig('c', 'i', {
      envs: [{ key: 'A', value: '1=2' }],
      working_dir: '/w',
      devices: [{ container_path: '/dev/x', host_path: '/dev/null', permissions: '' }],
      stop_signal: 'SIGRTMINPLUS1',
      linux: {
        resources: {
          cpu_period: '100000',
          cpu_quota: '50000',
          cpu_shares: '512',
          memory_limit_in_bytes: '67108864',
          oom_score_adj: '-997',
          cpuset_cpus: '0',
          cpuset_mems: '',
          hugepage_limits: [],
          unified: {},
          memory_swap_limit_in_bytes: '0',
        },
        security_context: securityContext({
          run_as_user: { value: '1000' },
          run_as_group: { value: '3000' },
          supplemental_groups: ['5'],
          capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['ALL'], add_ambient_capabilities: [] },
          no_new_privs: true,
          readonly_rootfs: true,
          seccomp: { profile_type: 'Unconfined', localhost_ref: '' },
          masked_paths: ['/proc/kcore'],
          readonly_paths: ['/proc/sys'],
        }),
      },
    });
    const { body, oomClamped } = containerCreateBody(input(cfg, { oomScoreAdjFloor: 0 }));
    assert.deepEqual(body.Env, ['A=1=2']);
    assert.equal(body.WorkingDir, '/w');
    assert.equal(body.User, '1000:3000');
    assert.equal(body.StopSignal, 'SIGRTMIN+1');
    const h = body.HostConfig;
    assert.deepEqual(h.GroupAdd, ['5']);
    assert.deepEqual([h.CapAdd, h.CapDrop], [['NET_ADMIN'], ['ALL']]);
    assert.deepEqual(h.SecurityOpt, ['no-new-privileges', 'seccomp=unconfined']);
    assert.equal(h.ReadonlyRootfs, true);
    assert.deepEqual([h.MaskedPaths, h.ReadonlyPaths], [['/proc/kcore'], ['/proc/sys']]);
    assert.deepEqual(h.Devices, [{ PathOnHost: '/dev/null', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' }]);
    assert.deepEqual(
      [h.CpuPeriod, h.CpuQuota, h.CpuShares, h.Memory, h.MemorySwap, h.CpusetCpus],
      [100000, 50000, 512, 67108864, 67108864, '0'],
    );
    assert.equal(h.OomScoreAdj, 0, 'negative oom_score_adj is clamped to the floor');
    assert.equal(oomClamped, true);
    assert.equal(h.Runtime, 'runc');
    assert.deepEqual(h.LogConfig, { Type: 'json-file' });
  });

  it('passes a Localhost seccomp profile by content', () => {
    const cfg = containerConfig('c', 'i', {
      linux: {
        resources: null,
        security_context: securityContext({ seccomp: { profile_type: 'Localhost', localhost_ref: '/p.json' } }),
      },
    });
    const { body } = containerCreateBody(input(cfg, { seccompProfile: '{"defaultAction":"SCMP_ACT_ALLOW"}' }));
    assert.deepEqual(body.HostConfig.SecurityOpt, ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']);
  });

  it('leaves masked paths to Docker for privileged containers', () => {
    const cfg = containerConfig('c', 'i', {
      linux: { resources: null, security_context: securityContext({ privileged: true, masked_paths: ['/x'] }) },
    });
    const { body } = containerCreateBody(input(cfg));
    assert.equal(body.HostConfig.Privileged, true);
    assert.equal(body.HostConfig.MaskedPaths, undefined);
  });

  it('converts mounts to binds with propagation', () => {
    assert.deepEqual(
      toBinds([
        mount({}),
        mount({ readonly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }),
        mount({ propagation: 'PROPAGATION_BIDIRECTIONAL', selinux_relabel: true }),
      ]),
      ['/h:/c:rw', '/h:/c:ro,rslave', '/h:/c:rw,rshared,Z'],
    );
    assert.throws(() => toBinds([mount({ host_path: '/a:b' })]), { name: 'InvalidArgumentError' });
    assert.throws(() => toBinds([mount({ recursive_read_only: true })]), { name: 'InvalidArgumentError' });
  });

  it('names stop signals as Docker does', () => {
    const cases: [string, string][] = [
      ['RUNTIME_DEFAULT', ''],
      ['SIGTERM', 'SIGTERM'],
      ['SIGRTMAXMINUS2', 'SIGRTMAX-2'],
    ];
    for (const [sig, want] of cases) assert.equal(stopSignalName(sig), want);
  });
});

describe('sandbox create body', () => {
  it('uses network none, shareable IPC, DNS, hostname and sysctls', () => {
    const cfg = sandboxConfig(env, 'p');
    cfg.linux = {
      ...cfg.linux!,
      sysctls: { 'net.ipv4.ip_forward': '1', 'kernel.shm_rmid_forced': '1' },
      cgroup_parent: '/kubepods/pod1',
    };
    const b = sandboxCreateBody({
      id: 's',
      handler: 'docker',
      dockerRuntime: 'runc',
      imageId: 'img',
      createdAt: '1',
      config: cfg,
    });
    assert.equal(b.Hostname, 'p');
    const h = b.HostConfig;
    assert.deepEqual([h.NetworkMode, h.IpcMode, h.PidMode], ['none', 'shareable', undefined]);
    assert.deepEqual([h.Dns, h.DnsSearch, h.DnsOptions], [['10.96.0.10'], ['default.svc.cluster.local'], ['ndots:5']]);
    assert.deepEqual(h.Sysctls, { 'net.ipv4.ip_forward': '1', 'kernel.shm_rmid_forced': '1' });
    assert.equal(h.CgroupParent, '/kubepods/pod1');
    assert.equal(h.Runtime, 'runc');
  });

  it('uses the host network without DNS or hostname', () => {
    const cfg = sandboxConfig(env, 'p', { hostNetwork: true });
    // net.* sysctls never come with the host network: the router refuses them (test/unit/router.test.ts, sysctls).
    cfg.linux = { ...cfg.linux!, sysctls: { 'kernel.msgmax': '9' } };
    const b = sandboxCreateBody({
      id: 's',
      handler: 'docker',
      dockerRuntime: '',
      imageId: 'img',
      createdAt: '1',
      config: cfg,
    });
    assert.equal(b.Hostname, undefined);
    assert.deepEqual(
      [b.HostConfig.NetworkMode, b.HostConfig.Dns, b.HostConfig.Runtime],
      ['host', undefined, undefined],
    );
    assert.deepEqual(b.HostConfig.Sysctls, { 'kernel.msgmax': '9' });
  });
});

describe('resources', () => {
  it('sets swap to the memory limit unless asked otherwise', () => {
    const r = (memory: string, swap: string) => ({
      cpu_period: '0',
      cpu_quota: '0',
      cpu_shares: '0',
      memory_limit_in_bytes: memory,
      oom_score_adj: '0',
      cpuset_cpus: '',
      cpuset_mems: '',
      hugepage_limits: [],
      unified: {},
      memory_swap_limit_in_bytes: swap,
    });
    assert.equal(toDockerResources(r('100', '0')).MemorySwap, 100);
    assert.equal(toDockerResources(r('100', '300')).MemorySwap, 300);
    assert.equal(toDockerResources(r('0', '0')).MemorySwap, undefined);
    assert.throws(() => toDockerResources(r('1.5', '0')), { name: 'InvalidArgumentError' });
  });
  it('clamps oom_score_adj to the floor only when lower', () => {
    // The rule runc and Docker share (src/host/cri-resources.ts).
    assert.deepEqual(clampOomScoreAdj(-997, 0), { value: 0, clamped: true });
    assert.deepEqual(clampOomScoreAdj(1000, 0), { value: 1000, clamped: false });
    assert.deepEqual(clampOomScoreAdj(-500, -900), { value: -500, clamped: false });
  });
});

function state(p: Partial<ContainerState>): ContainerState {
  return {
    Status: 'exited',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: '2026-01-01T00:00:01Z',
    FinishedAt: '2026-01-01T00:00:02Z',
    ...p,
  };
}

/** The CRI status the router answers for a Docker container (facts from inspect, shaped once for all backends). */
function toContainerStatus(c: ContainerInspect): cri.ContainerStatus | undefined {
  const facts = toContainerFacts(c);
  return facts && containerStatus(facts);
}

function inspectWithState(s: ContainerState): ContainerInspect {
  return {
    Id: 'd1',
    Name: '/k8s_c_p_default_u_0',
    Created: '2026-01-01T00:00:00.5Z',
    Image: 'sha256:img',
    State: s,
    Config: {
      Image: 'x',
      Labels: containerLabels({
        id: 'cid',
        sandboxId: 'sid',
        createdAt: '42',
        config: containerConfig('c', 'busybox:1.36'),
        imageRef: 'ref',
        logPath: '/l',
      }),
      User: '1000',
      Tty: false,
      Hostname: '',
    },
    HostConfig: {},
    Mounts: [],
  };
}

describe('container state', () => {
  const cases: [string, Partial<ContainerState>, string, string][] = [
    [
      'never started',
      { Status: 'created', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z' },
      'CONTAINER_CREATED',
      '',
    ],
    [
      'failed start',
      { Status: 'created', ExitCode: 127, Error: 'exec: "nope": not found' },
      'CONTAINER_EXITED',
      'StartError',
    ],
    ['running', { Status: 'running', Running: true }, 'CONTAINER_RUNNING', ''],
    ['exit 0', { ExitCode: 0 }, 'CONTAINER_EXITED', 'Completed'],
    ['exit 3', { ExitCode: 3 }, 'CONTAINER_EXITED', 'Error'],
    ['oom', { ExitCode: 137, OOMKilled: true }, 'CONTAINER_EXITED', 'OOMKilled'],
    ['dead', { Status: 'dead', ExitCode: 1 }, 'CONTAINER_EXITED', 'Error'],
    ['removing, not finished', { Status: 'removing', FinishedAt: '0001-01-01T00:00:00Z' }, 'CONTAINER_UNKNOWN', ''],
  ];
  for (const [what, s, want, reason] of cases) {
    it(what, () => {
      const got = toContainerStatus(inspectWithState(state(s)));
      assert.deepEqual([got?.state, got?.reason], [want, reason]);
    });
  }

  it('reports a failed start as containerd does: exit code 128, never started, finished at its creation', () => {
    const got = toContainerStatus(inspectWithState(state({ Status: 'created', ExitCode: 127, Error: 'no sh' })));
    assert.deepEqual(
      [got?.state, got?.reason, got?.message, got?.exit_code, got?.started_at, got?.finished_at],
      ['CONTAINER_EXITED', 'StartError', 'no sh', 128, '0', '42'],
    );
  });

  it('builds a full status from inspect', () => {
    const c: ContainerInspect = {
      ...inspectWithState(state({ ExitCode: 3 })),
      HostConfig: { Memory: 100, MemorySwap: 100, CpuShares: 2 },
    };
    const s = toContainerStatus(c);
    assert.ok(s);
    assert.deepEqual(
      [
        s.id,
        s.state,
        s.exit_code,
        s.reason,
        s.created_at,
        s.started_at,
        s.finished_at,
        s.image?.image,
        s.image_ref,
        s.image_id,
        s.log_path,
      ],
      [
        'cid',
        'CONTAINER_EXITED',
        3,
        'Error',
        '42',
        '1767225601000000000',
        '1767225602000000000',
        'busybox:1.36',
        'ref',
        'sha256:img',
        '/l',
      ],
    );
    assert.equal(s.resources?.linux?.memory_limit_in_bytes, '100');
    assert.deepEqual(s.user, { linux: { uid: '1000', gid: '1000', supplemental_groups: [] } });
  });

  describe('user', () => {
    function inspect(labels: Record<string, string>, user: string): ContainerInspect {
      return {
        Id: 'd1',
        Name: '/k8s_c_p_default_u_0',
        Created: '2026-01-01T00:00:00Z',
        Image: 'sha256:img',
        State: state({ Status: 'running' }),
        Config: { Image: 'x', Labels: labels, User: user, Tty: false, Hostname: '' },
        HostConfig: {},
        Mounts: [],
      };
    }
    const labels = (user?: { uid: number; gid: number; groups: number[] }) =>
      containerLabels({
        id: 'cid',
        sandboxId: 'sid',
        createdAt: '42',
        config: containerConfig('c', 'i'),
        imageRef: 'ref',
        logPath: '',
        user,
      });

    it("reports the identity recorded at create, primary gid first, over Docker's User", () => {
      // uid 1000 asked by run_as_user (Docker's User "1000"), /etc/group adds 50000, supplemental_groups 1234
      const s = toContainerStatus(inspect(labels({ uid: 1000, gid: 1000, groups: [1000, 50000, 1234] }), '1000'));
      assert.deepEqual(s?.user, {
        linux: { uid: '1000', gid: '1000', supplemental_groups: ['1000', '50000', '1234'] },
      });
    });

    it('falls back to the numeric Docker User for a container created without one', () => {
      assert.equal(labels()['io.crimux.user'], undefined);
      const s = toContainerStatus(inspect(labels(), '1001:2002'));
      assert.deepEqual(s?.user, { linux: { uid: '1001', gid: '2002', supplemental_groups: [] } });
      assert.equal(toContainerStatus(inspect(labels(), 'www-data'))?.user ?? undefined, undefined);
    });

    for (const [what, raw] of [
      ['not JSON', '{'],
      ['a negative uid', '{"uid":-1,"gid":0,"groups":[]}'],
      ['groups not a list', '{"uid":1,"gid":1,"groups":"1"}'],
      ['a group as text', '{"uid":1,"gid":1,"groups":["1"]}'],
    ] as const) {
      it(`ignores a recorded identity that is ${what}`, () => {
        const s = toContainerStatus(inspect({ ...labels(), 'io.crimux.user': raw }, '7'));
        assert.deepEqual(s?.user, { linux: { uid: '7', gid: '7', supplemental_groups: [] } });
      });
    }
  });
});

describe('stats', () => {
  it('computes working set like cAdvisor (usage minus inactive file)', () => {
    const cfg = containerConfig('c', 'i');
    const c = {
      Id: 'd',
      Config: {
        Labels: containerLabels({ id: 'cid', sandboxId: 's', createdAt: '1', config: cfg, imageRef: '', logPath: '' }),
      },
      SizeRw: 4096,
    } as unknown as ContainerInspect;
    const st = toContainerUsage(
      c,
      {
        read: '2026-01-01T00:00:00.000000001Z',
        cpu_stats: { cpu_usage: { total_usage: 123456 } },
        memory_stats: {
          usage: 10_000,
          limit: 50_000,
          stats: { total_inactive_file: 4000, total_rss: 3000, total_pgfault: 7, total_pgmajfault: 1 },
        },
      },
      '/var/lib/docker/overlay2',
      // Docker's own read time wins; the clock only fills in when Docker gives none.
      { nowNs: () => 0n },
    );
    assert.ok(st);
    assert.equal(st.atNs, 1767225600000000001n);
    assert.equal(st.cpuNs, 123456);
    assert.deepEqual(
      [st.memory?.workingSetBytes, st.memory?.usageBytes, st.memory?.limitBytes, st.memory?.rssBytes],
      [6000, 10000, 50000, 3000],
    );
    assert.deepEqual([st.memory?.pageFaults, st.memory?.majorPageFaults], [7, 1]);
    assert.equal(st.writableLayer?.usedBytes, 4096);
    assert.equal(st.id, 'cid');
  });
});

describe('pod stats', () => {
  it('parses /proc/net/dev without the loopback', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
      '  eth0:    1234      10    2    0    0     0          0         0     5678      20    3    0    0     0       0          0',
    ].join('\n');
    assert.deepEqual(parseNetDev(text), [{ name: 'eth0', rxBytes: 1234n, rxErrors: 2n, txBytes: 5678n, txErrors: 3n }]);
  });
  it('sums container CPU and memory', () => {
    const c = (cpuNs: number, workingSetBytes: number): ContainerUsage => ({
      id: 'x',
      atNs: 7n,
      cpuNs,
      memory: { workingSetBytes, limitBytes: 1000 },
    });
    const sum = sumContainerUsage([c(10, 100), c(5, 50)]);
    assert.deepEqual([sum.cpuNs, sum.memory.workingSetBytes, sum.memory.limitBytes], [15n, 150n, undefined]);
  });
});
