/**
 * Backend-wide configuration of the rkt backend (the `backends.rkt` section of crimux's config), as a convict
 * schema fragment. Per-handler options live in `handlers.<name>.options` and are validated by the backend factory.
 */
export const rktConfigSchema = {
  enabled: {
    doc: 'Serve pods with the rkt backend. Handlers naming a disabled backend are rejected as disabled.',
    format: Boolean,
    default: false,
    env: 'CRIMUX_BACKENDS_RKT_ENABLED',
  },
};

export interface RktBackendConfig {
  enabled: boolean;
}
