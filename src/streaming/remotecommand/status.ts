/**
 * The final status of an exec/attach session, shaped exactly like the kubelet's (metav1.Status as Go's
 * encoding/json writes it), because clients parse it: client-go takes the exit code from a NonZeroExitCode
 * status's ExitCode cause (kubectl and crictl exit with it).
 */

export interface K8sStatus {
  readonly metadata: Record<string, never>;
  readonly status: 'Success' | 'Failure';
  readonly message?: string;
  readonly reason?: string;
  readonly details?: { readonly causes: ReadonlyArray<{ readonly reason?: string; readonly message: string }> };
  readonly code?: number;
}

export function successStatus(): K8sStatus {
  return { metadata: {}, status: 'Success' };
}

/** A command that ran and exited non-zero (remotecommand.NonZeroExitCodeReason / ExitCodeCauseType). */
export function exitCodeStatus(exitCode: number, cmd: readonly string[]): K8sStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: command '${cmd.join(' ')}' exited with ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** Anything else that went wrong (apierrors.NewInternalError). */
export function internalErrorStatus(message: string): K8sStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

/**
 * The bytes for the error stream: the JSON object for v4+, the message alone for failures of older versions,
 * nothing for an older version's success (an empty error stream means success there).
 */
export function encodeStatus(status: K8sStatus, json: boolean): Buffer | undefined {
  if (json) return Buffer.from(JSON.stringify(status));
  if (status.status === 'Success') return undefined;
  return Buffer.from(status.message ?? 'unknown error');
}
