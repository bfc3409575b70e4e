/** What the vm backend's operation modules share (built once by VmBackend.start). */
import type { ImageStore, SnapshotStore } from '../../images/types';
import type { VmBackendConfig } from './config';
import type { Disks } from './disks';
import type { GuestArtefacts } from './guest';
import type { VmNetwork } from './net';
import type { Accel } from './qemu';
import type { VmRuntime } from './runtime';
import type { Semaphore } from './semaphore';
import type { Templates } from './template';

export interface VmShared {
  readonly cfg: VmBackendConfig;
  readonly rt: VmRuntime;
  readonly net: VmNetwork;
  readonly disks: Disks;
  readonly images: ImageStore & SnapshotStore;
  readonly runDir: string;
  /** Absent when the guest artefacts are missing or stale: new pods are refused with guestError. */
  readonly guest?: GuestArtefacts;
  readonly guestError?: string;
  readonly accel: Accel;
  readonly boots: Semaphore;
  readonly templates?: Templates;
  /** Per-handler VM size overrides (handlers.<name>.options.memoryMiB / vcpus). */
  handlerSize(handler: string): { memoryMiB?: number; vcpus?: number };
  /** Whether this handler's pods may start from a template (handlers.<name>.options.template). */
  templatesFor(handler: string): boolean;
}
