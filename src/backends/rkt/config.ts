/**
 * Backend-wide configuration of the rkt backend (the `backends.rkt` section of crimux's config), as a convict
 * schema fragment. Per-handler options live in `handlers.<name>.options` and are validated by the backend factory
 * (see options.ts).
 *
 * Two pod managers sit behind the same contract (pod-manager.ts): a real `rkt` binary when `rkt.path` is set, or
 * the built-in systemd-nspawn stage1 otherwise (rkt is archived and packaged nowhere, so the built-in one is the
 * default and the only one tested for real).
 */
export const rktConfigSchema = {
  enabled: {
    doc: 'Serve pods with the rkt backend. Handlers naming a disabled backend are rejected as disabled.',
    format: Boolean,
    default: false,
    env: 'CRIMUX_BACKENDS_RKT_ENABLED',
  },
  securityPolicy: {
    doc: 'What to do with a SecurityContext field the pod manager cannot enforce (e.g. seccomp on the min stage1): "reject" fails the create with InvalidArgument naming the field, "warn" logs it and runs the pod without it.',
    format: ['reject', 'warn'],
    default: 'reject',
    env: 'CRIMUX_BACKENDS_RKT_SECURITY_POLICY',
  },
  rkt: {
    path: {
      doc: 'Path of a real rkt binary; empty uses the built-in systemd-nspawn stage1. Real rkt is driven exactly as rktlet drove it (one rkt command per operation) and is only tested against a fake rkt here.',
      format: String,
      default: '',
      env: 'CRIMUX_BACKENDS_RKT_RKT_PATH',
    },
    dataDir: {
      doc: 'rkt --dir for a real rkt; empty means <stateDir>/backends/rkt/rkt-data (rktlet used /var/lib/rktlet/data).',
      format: String,
      default: '',
      env: 'CRIMUX_BACKENDS_RKT_RKT_DATA_DIR',
    },
    stage1Name: {
      doc: "rkt --stage1-name for `rkt app sandbox` with a real rkt; empty uses rkt's default stage1.",
      format: String,
      default: '',
      env: 'CRIMUX_BACKENDS_RKT_RKT_STAGE1_NAME',
    },
    net: {
      doc: 'rkt --net for pods of a real rkt (rkt runs CNI itself from /etc/rkt/net.d); host-network pods always get --net=host.',
      format: String,
      default: 'default',
      env: 'CRIMUX_BACKENDS_RKT_RKT_NET',
    },
    commandTimeoutSeconds: {
      doc: 'Upper bound of one rkt command (rktlet had none, so a hung rkt hung the kubelet).',
      format: 'nat',
      default: 120,
      env: 'CRIMUX_BACKENDS_RKT_RKT_COMMAND_TIMEOUT_SECONDS',
    },
  },
  stage1: {
    flavor: {
      doc: 'Built-in stage1 flavor. "min": systemd-nspawn --as-pid2 with a sleeper as the pod\'s root, apps entered with nsenter+setpriv and monitored by conmon (see README: what it enforces and what it rejects). A "systemd" flavor (nspawn --boot, apps as units) is planned, TODO(#7).',
      format: ['min'],
      default: 'min',
      env: 'CRIMUX_BACKENDS_RKT_STAGE1_FLAVOR',
    },
    root: {
      doc: 'Data dir of the built-in stage1 (pods/run/<uuid>/… as rkt lays it out); empty means <stateDir>/backends/rkt.',
      format: String,
      default: '',
      env: 'CRIMUX_BACKENDS_RKT_STAGE1_ROOT',
    },
    cgroupParent: {
      doc: "Parent cgroup of pods without a CRI cgroup_parent, in every mounted hierarchy. Absolute: from the hierarchy roots; relative: below crimux's own cgroup (keeps pods inside the daemon's slice).",
      format: String,
      default: '/crimux-rkt',
      env: 'CRIMUX_BACKENDS_RKT_STAGE1_CGROUP_PARENT',
    },
    readyTimeoutSeconds: {
      doc: 'How long a new pod may take until its stage1 reports ready; then RunPodSandbox fails with an excerpt of the stage1 log.',
      format: 'nat',
      default: 20,
      env: 'CRIMUX_BACKENDS_RKT_STAGE1_READY_TIMEOUT_SECONDS',
    },
    nspawnPath: {
      doc: 'The systemd-nspawn binary (package systemd-container).',
      format: String,
      default: 'systemd-nspawn',
      env: 'CRIMUX_BACKENDS_RKT_STAGE1_NSPAWN_PATH',
    },
    conmonPath: {
      doc: 'The conmon binary monitoring each app (writes the CRI log and the exit code).',
      format: String,
      default: 'conmon',
      env: 'CRIMUX_BACKENDS_RKT_STAGE1_CONMON_PATH',
    },
    helperPath: {
      doc: 'crimux-stage1 (built by scripts/build-native.sh): runs each app with its environment read from a file, never from a command line, and makes every mount inside an app root through fds resolved inside that root (openat2 RESOLVE_IN_ROOT), so image symlinks and racing containers cannot redirect a mount. Bound read-only into every pod.',
      format: String,
      default: '/usr/local/libexec/crimux/crimux-stage1',
      env: 'CRIMUX_BACKENDS_RKT_STAGE1_HELPER_PATH',
    },
  },
};

export type SecurityPolicy = 'reject' | 'warn';

export interface RktBackendConfig {
  enabled: boolean;
  securityPolicy: SecurityPolicy;
  rkt: { path: string; dataDir: string; stage1Name: string; net: string; commandTimeoutSeconds: number };
  stage1: {
    flavor: 'min';
    root: string;
    cgroupParent: string;
    readyTimeoutSeconds: number;
    nspawnPath: string;
    conmonPath: string;
    helperPath: string;
  };
}
