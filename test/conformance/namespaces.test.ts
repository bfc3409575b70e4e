/**
 * Conformance: namespace options and sysctls (specs/namespaces.ts, specs/sysctls.ts), on every selected handler
 * (see harness.ts; one daemon for the file, CNI slot 27).
 */
import { conformance } from './harness';
import { NAMESPACE_SPECS } from './specs/namespaces';
import { SYSCTL_SPECS } from './specs/sysctls';
import { specs } from './specs/workload';

conformance({ name: 'namespaces', slot: 27, specs: specs([...NAMESPACE_SPECS, ...SYSCTL_SPECS]) });
