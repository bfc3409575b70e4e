/**
 * Backend-wide configuration of the vm backend (the `backends.vm` section of crimux's config), as a convict
 * schema fragment. Per-handler options live in `handlers.<name>.options` and are validated by the backend factory
 * (options.ts): `memoryMiB`, `vcpus`, `template`.
 */
export const vmConfigSchema = {
  enabled: {
    doc: 'Serve pods with the vm backend. Handlers naming a disabled backend are rejected as disabled.',
    format: Boolean,
    default: false,
    env: 'CRIMUX_BACKENDS_VM_ENABLED',
  },
  guestDir: {
    doc: 'Guest kernel, initramfs and agent tools disk built by scripts/build-vm-guest.sh (manifest.json inside).',
    format: String,
    default: '/var/lib/crimux/vm/guest',
    env: 'CRIMUX_VM_GUEST_DIR',
  },
  qemuPath: {
    doc: 'qemu-system-x86_64 binary (Debian package qemu-system-x86).',
    format: String,
    default: 'qemu-system-x86_64',
    env: 'CRIMUX_VM_QEMU',
  },
  qemuImgPath: {
    doc: 'qemu-img binary, used for the per-container qcow2 overlays on the image rootfs.',
    format: String,
    default: 'qemu-img',
    env: 'CRIMUX_VM_QEMU_IMG',
  },
  accelerator: {
    doc: 'auto: a short boot probe decides KVM or TCG (cached per kernel); kvm or tcg force one.',
    format: ['auto', 'kvm', 'tcg'],
    default: 'auto',
    env: 'CRIMUX_VM_ACCELERATOR',
  },
  memoryMiB: {
    doc: 'Guest RAM of a pod VM without memory limits; untouched guest RAM costs the host nothing.',
    format: 'nat',
    default: 512,
    env: 'CRIMUX_VM_MEMORY_MIB',
  },
  memoryOverheadMiB: {
    doc: "Guest RAM added to the sum of the pod's memory limits (kernel, agent) when the pod sets limits.",
    format: 'nat',
    default: 192,
    env: 'CRIMUX_VM_MEMORY_OVERHEAD_MIB',
  },
  maxMemoryMiB: {
    doc: 'Upper bound of one VM’s RAM; a pod asking for more is refused.',
    format: 'nat',
    default: 8192,
    env: 'CRIMUX_VM_MAX_MEMORY_MIB',
  },
  vcpus: {
    doc: 'vCPUs of a pod VM without CPU limits (TCG runs one host thread per vCPU).',
    format: 'nat',
    default: 1,
    env: 'CRIMUX_VM_VCPUS',
  },
  maxVcpus: {
    doc: "Upper bound of vCPUs derived from the pod's CPU limits.",
    format: 'nat',
    default: 4,
    env: 'CRIMUX_VM_MAX_VCPUS',
  },
  template: {
    doc: 'Boot pods by restoring a pre-booted template VM snapshot (≈0.5 s under TCG) instead of a cold boot (≈4 s). The template is built in the background at start; cold boot is the fallback.',
    format: Boolean,
    default: true,
    env: 'CRIMUX_VM_TEMPLATE',
  },
  bootTimeoutSeconds: {
    doc: 'Bound on a VM boot (cold or clone) until its agent answers.',
    format: 'nat',
    default: 120,
    env: 'CRIMUX_VM_BOOT_TIMEOUT_SECONDS',
  },
  maxConcurrentBoots: {
    doc: 'Cold boots run at once; TCG boots are CPU-bound, so more than the core count only slows all of them.',
    format: 'nat',
    default: 2,
    env: 'CRIMUX_VM_MAX_CONCURRENT_BOOTS',
  },
  rootfsHeadroomMiB: {
    doc: 'Free space in each image rootfs disk (the writable room of every container on that image).',
    format: 'nat',
    default: 256,
    env: 'CRIMUX_VM_ROOTFS_HEADROOM_MIB',
  },
  seccompProfile: {
    doc: 'The RuntimeDefault seccomp profile applied inside the guest (Docker/containerd JSON format); empty: the one shipped in config/seccomp/runtime-default.json.',
    format: String,
    default: '',
    env: 'CRIMUX_VM_SECCOMP_PROFILE',
  },
  consoleLogMaxBytes: {
    doc: 'Size past which a VM console log on the host is rotated (newest half kept in console.log.1): a guest flooding its console cannot fill the disk.',
    format: 'nat',
    default: 1024 * 1024,
    env: 'CRIMUX_VM_CONSOLE_LOG_MAX_BYTES',
  },
};

export interface VmBackendConfig {
  enabled: boolean;
  guestDir: string;
  qemuPath: string;
  qemuImgPath: string;
  accelerator: 'auto' | 'kvm' | 'tcg';
  memoryMiB: number;
  memoryOverheadMiB: number;
  maxMemoryMiB: number;
  vcpus: number;
  maxVcpus: number;
  template: boolean;
  bootTimeoutSeconds: number;
  maxConcurrentBoots: number;
  rootfsHeadroomMiB: number;
  seccompProfile: string;
  consoleLogMaxBytes: number;
}
