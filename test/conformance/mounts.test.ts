/**
 * Conformance: volumes, a symlinked host path, devices and mount propagation (specs/volumes.ts,
 * specs/devices.ts, specs/mount-propagation.ts), on every selected handler (see harness.ts; one daemon for the
 * file, CNI slot 28).
 */
import { conformance } from './harness';
import { DEVICE_SPECS } from './specs/devices';
import { MOUNT_PROPAGATION_SPECS } from './specs/mount-propagation';
import { VOLUME_SPECS } from './specs/volumes';
import { specs } from './specs/workload';

conformance({ name: 'mounts', slot: 28, specs: specs([...VOLUME_SPECS, ...DEVICE_SPECS, ...MOUNT_PROPAGATION_SPECS]) });
