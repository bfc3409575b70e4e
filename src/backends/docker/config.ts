/**
 * Backend-wide configuration of the docker backend (the `backends.docker` section of crimux's config), as a convict
 * schema fragment. Per-handler options live in `handlers.<name>.options` and are validated by the backend factory.
 */
export const dockerConfigSchema = {
  enabled: {
    doc: 'Serve pods with the docker backend. Handlers naming a disabled backend are rejected as disabled.',
    format: Boolean,
    default: false,
    env: 'CRIMUX_BACKENDS_DOCKER_ENABLED',
  },
};

export interface DockerBackendConfig {
  enabled: boolean;
}
