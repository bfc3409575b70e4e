/**
 * RunAsGroup needs a user: a group without RunAsUser (or, for containers, RunAsUsername) is refused with
 * InvalidArgument naming the field, as containerd and CRI-O do ("user group is specified without user"). The
 * image's user is not a substitute: which group it would run with is then ambiguous.
 */
import { InvalidArgumentError } from '../errors';
import type * as cri from '../cri/types';

type SandboxSecurity = NonNullable<NonNullable<cri.PodSandboxConfig['linux']>['security_context']>;
type ContainerSecurity = NonNullable<NonNullable<cri.ContainerConfig['linux']>['security_context']>;

function refuse(field: string): never {
  const detail = 'run_as_group is set without run_as_user';
  throw new InvalidArgumentError(`validate ${field}: ${detail}`, { context: { field } });
}

export function checkSandboxRunAsGroup(sc: SandboxSecurity | null | undefined): void {
  if (sc?.run_as_group && !sc.run_as_user) refuse('config.linux.security_context.run_as_group');
}

export function checkContainerRunAsGroup(sc: ContainerSecurity | null | undefined): void {
  if (sc?.run_as_group && !sc.run_as_user && !sc.run_as_username) refuse('config.linux.security_context.run_as_group');
}
