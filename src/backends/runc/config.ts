/**
 * Backend-wide configuration of the runc backend (the `backends.runc` section of crimux's config), as a convict
 * schema fragment. Per-handler options live in `handlers.<name>.options` and are validated by the backend factory.
 */
export const runcConfigSchema = {
  enabled: {
    doc: 'Serve pods with the runc backend. Handlers naming a disabled backend are rejected as disabled.',
    format: Boolean,
    default: false,
    env: 'CRIMUX_BACKENDS_RUNC_ENABLED',
  },
};

export interface RuncBackendConfig {
  enabled: boolean;
}
