/** A CRI Mount with every field set (as the kubelet sends it), overridden by `p`. */
import type * as cri from '../../src/cri/types';

export type CriMount = cri.ContainerConfig['mounts'][number];

export function criMount(p: Partial<CriMount>): CriMount {
  return {
    container_path: '/c',
    host_path: '/h',
    readonly: false,
    selinux_relabel: false,
    propagation: 'PROPAGATION_PRIVATE',
    uidMappings: [],
    gidMappings: [],
    recursive_read_only: false,
    image: null,
    image_sub_path: '',
    ...p,
  };
}
