/**
 * Backend-wide configuration of the docker backend (the `backends.docker` section of crimux's config), as a convict
 * schema fragment. Per-handler options live in `handlers.<name>.options` and are validated by the backend factory
 * (see options.ts: `dockerRuntime` maps a handler to a Docker runtime name, HostConfig.Runtime).
 */
export const dockerConfigSchema = {
  enabled: {
    doc: 'Serve pods with the docker backend. Handlers naming a disabled backend are rejected as disabled.',
    format: Boolean,
    default: false,
    env: 'CRIMUX_BACKENDS_DOCKER_ENABLED',
  },
  socket: {
    doc: 'Unix socket of the Docker Engine API (dockerd -H unix://…).',
    format: String,
    default: '/var/run/docker.sock',
    env: 'CRIMUX_BACKENDS_DOCKER_SOCKET',
  },
  apiVersion: {
    doc: 'Docker Engine API version to speak, e.g. "1.41"; empty negotiates it with dockerd (/version) on connect.',
    format: String,
    default: '',
    env: 'CRIMUX_BACKENDS_DOCKER_API_VERSION',
  },
  requestTimeoutSeconds: {
    doc: 'Upper bound of one non-streaming Docker API call when the caller sets no tighter deadline.',
    format: 'nat',
    default: 120,
    env: 'CRIMUX_BACKENDS_DOCKER_REQUEST_TIMEOUT_SECONDS',
  },
  logDriver: {
    doc: 'Docker log driver of pod containers; crimux copies its output into the CRI log files through the logs API. json-file keeps long lines exact; local (dockerd 20.10) drops the end-of-line of a split long line, so its last chunk shows as partial.',
    format: ['json-file', 'local'],
    default: 'json-file',
    env: 'CRIMUX_BACKENDS_DOCKER_LOG_DRIVER',
  },
  logMaxSizeMb: {
    doc: "Size of one file of Docker's own copy of container output before it rotates (crimux copies from it into the CRI log; only output not yet copied while crimux is down needs it).",
    format: 'nat',
    default: 10,
    env: 'CRIMUX_BACKENDS_DOCKER_LOG_MAX_SIZE_MB',
  },
  logMaxFiles: {
    doc: "Files of Docker's own copy of container output kept per container.",
    format: 'nat',
    default: 3,
    env: 'CRIMUX_BACKENDS_DOCKER_LOG_MAX_FILES',
  },
};

export interface DockerBackendConfig {
  enabled: boolean;
  socket: string;
  apiVersion: string;
  requestTimeoutSeconds: number;
  logDriver: 'json-file' | 'local';
  logMaxSizeMb: number;
  logMaxFiles: number;
}
