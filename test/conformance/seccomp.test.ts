/**
 * Conformance: seccomp, structured profiles and the legacy profile paths (specs/security-seccomp.ts), on every
 * selected handler (see harness.ts; one daemon for the file, CNI slot 26).
 */
import { conformance } from './harness';
import { SECURITY_SECCOMP_SPECS } from './specs/security-seccomp';
import { specs } from './specs/workload';

conformance({ name: 'seccomp', slot: 26, specs: specs(SECURITY_SECCOMP_SPECS) });
