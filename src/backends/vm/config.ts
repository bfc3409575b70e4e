/**
 * Backend-wide configuration of the vm backend (the `backends.vm` section of crimux's config), as a convict
 * schema fragment. Per-handler options live in `handlers.<name>.options` and are validated by the backend factory.
 */
export const vmConfigSchema = {
  enabled: {
    doc: 'Serve pods with the vm backend. Handlers naming a disabled backend are rejected as disabled.',
    format: Boolean,
    default: false,
    env: 'CRIMUX_BACKENDS_VM_ENABLED',
  },
};

export interface VmBackendConfig {
  enabled: boolean;
}
