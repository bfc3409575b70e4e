/**
 * Backend-wide configuration of the runc backend (the `backends.runc` section of crimux's config), as a convict
 * schema fragment. Per-handler options live in `handlers.<name>.options` and are validated by the backend factory
 * (options.ts): `runtimePath`, `runtimeRoot`, `runtimeArgs`.
 */
import { EXEC_SYNC_STREAM_MAX_BYTES } from '../../host/exec-output';
export const runcConfigSchema = {
  enabled: {
    doc: 'Serve pods with the runc backend. Handlers naming a disabled backend are rejected as disabled.',
    format: Boolean,
    default: false,
    env: 'CRIMUX_BACKENDS_RUNC_ENABLED',
  },
  runtimePath: {
    doc: 'OCI runtime binary of handlers that set no runtimePath option (runc CLI contract: crun, runsc also fit).',
    format: String,
    default: '/usr/sbin/runc',
    env: 'CRIMUX_RUNC_RUNTIME_PATH',
  },
  conmonPath: {
    doc: 'conmon binary: one monitor per container holds its stdio, writes its CRI log and exit code.',
    format: String,
    default: '/usr/bin/conmon',
    env: 'CRIMUX_RUNC_CONMON_PATH',
  },
  ioHelperPath: {
    doc: 'crimux-io (built by scripts/build-native.sh): bridges conmon attach sockets and runc console sockets for Attach and TTY exec.',
    format: String,
    default: '/usr/local/libexec/crimux/crimux-io',
    env: 'CRIMUX_RUNC_IO_HELPER_PATH',
  },
  cgroupDriver: {
    doc: 'How pod and container cgroups are named and made, as containerd\'s SystemdCgroup: "cgroupfs" (paths such as /kubepods/pod<uid>, runc writes the cgroup files) or "systemd" (slices such as kubepods-burstable-pod<uid>.slice, runc --systemd-cgroup creates a scope per container; needs systemd as PID 1). Must match the kubelet\'s cgroupDriver; reported in RuntimeConfig.',
    format: ['cgroupfs', 'systemd'],
    default: 'cgroupfs',
    env: 'CRIMUX_RUNC_CGROUP_DRIVER',
  },
  cgroupParent: {
    doc: 'Parent of pods whose LinuxPodSandboxConfig.cgroup_parent is empty. cgroupfs driver: each such pod gets <this>/<sandbox id>; systemd driver: a slice name (e.g. crimux.slice, anything else means crimux.slice) and each pod gets <name>-pod<sandbox id>.slice.',
    format: String,
    default: '/crimux',
    env: 'CRIMUX_RUNC_CGROUP_PARENT',
  },
  seccompProfile: {
    doc: 'The RuntimeDefault seccomp profile (Docker/containerd JSON format); empty: the one shipped in config/seccomp/runtime-default.json.',
    format: String,
    default: '',
    env: 'CRIMUX_RUNC_SECCOMP_PROFILE',
  },
  logSizeMaxBytes: {
    doc: 'conmon rotates nothing itself; a container log larger than this is truncated by conmon (0: no limit, the kubelet rotates).',
    format: 'nat',
    default: 0,
    env: 'CRIMUX_RUNC_LOG_SIZE_MAX_BYTES',
  },
  execSyncMaxOutputBytes: {
    doc: "Per-stream cap of ExecSync output kept for the reply (both together stay under the kubelet's 16 MiB: src/host/exec-output.ts).",
    format: 'nat',
    default: EXEC_SYNC_STREAM_MAX_BYTES,
    env: 'CRIMUX_RUNC_EXEC_SYNC_MAX_OUTPUT_BYTES',
  },
};

export interface RuncBackendConfig {
  enabled: boolean;
  runtimePath: string;
  conmonPath: string;
  ioHelperPath: string;
  cgroupDriver: 'cgroupfs' | 'systemd';
  cgroupParent: string;
  seccompProfile: string;
  logSizeMaxBytes: number;
  execSyncMaxOutputBytes: number;
}
