/**
 * Conformance: the security context — identity, file system, privilege and capabilities (specs/security-*.ts)
 * — on every selected handler (see harness.ts; one daemon for the file, CNI slot 25).
 */
import { conformance } from './harness';
import { SECURITY_FS_SPECS } from './specs/security-fs';
import { SECURITY_PRIVILEGE_SPECS } from './specs/security-privilege';
import { SECURITY_USER_SPECS } from './specs/security-user';
import { specs } from './specs/workload';

conformance({
  name: 'security',
  slot: 25,
  specs: specs([...SECURITY_USER_SPECS, ...SECURITY_FS_SPECS, ...SECURITY_PRIVILEGE_SPECS]),
});
