/**
 * Conformance: runtime info, PodSandbox lifecycle and networking on every selected handler (see harness.ts;
 * one daemon for the file, CNI slot 20).
 */
import { conformance } from './harness';
import { NETWORKING_SPECS } from './specs/networking';
import { POD_SPECS } from './specs/pod';
import { RUNTIME_INFO_SPECS } from './specs/runtime-info';

conformance({ name: 'pod', slot: 20, specs: [...RUNTIME_INFO_SPECS, ...POD_SPECS, ...NETWORKING_SPECS] });
