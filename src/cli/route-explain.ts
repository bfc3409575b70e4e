/**
 * `crimux route --explain POD.json`: the backend a PodSandboxConfig would go to, and why, without running
 * anything. The JSON is crictl's pod config format; it is passed through the CRI codec so it is read exactly as
 * a RunPodSandbox request would be (defaults filled, enums by name or number).
 */
import fs from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';
import { loadConfig } from '../config/load';
import { LOADER_OPTIONS, protoPath } from '../cri/proto';
import type * as cri from '../cri/types';
import { InvalidArgumentError, errorMessage } from '../errors';
import { select } from '../router/select';
import { buildRoutingTable, podFacts } from '../router/table';
import { validateSandboxConfig } from '../router/validate';
import type { BackendCapabilities, BackendKind } from '../backends/backend';
import { DOCKER_CAPABILITIES } from '../backends/docker/backend';
import { RKT_CAPABILITIES } from '../backends/rkt/backend';
import { RUNC_CAPABILITIES } from '../backends/runc/backend';
import { VM_CAPABILITIES } from '../backends/vm/backend';

/** What each backend kind can honour, for offline use: the backends' own flags, so the answer is the daemon's. */
const KNOWN_CAPABILITIES: Record<BackendKind, BackendCapabilities> = {
  runc: RUNC_CAPABILITIES,
  docker: DOCKER_CAPABILITIES,
  rkt: RKT_CAPABILITIES,
  vm: VM_CAPABILITIES,
};

export function decodePodConfig(json: unknown): cri.PodSandboxConfig {
  const def = protoLoader.loadSync(protoPath(), LOADER_OPTIONS);
  const method = (def['runtime.v1.RuntimeService'] as protoLoader.ServiceDefinition | undefined)?.RunPodSandbox;
  if (!method) throw new Error('route --explain: RunPodSandbox missing from the proto');
  try {
    const wire = method.requestSerialize({ config: json });
    return (method.requestDeserialize(wire) as { config: cri.PodSandboxConfig }).config;
  } catch (err) {
    throw new InvalidArgumentError(`read pod config: ${errorMessage(err)}`);
  }
}

export function routeExplain(file: string, configFile: string | undefined, runtimeHandler: string): number {
  const config = loadConfig(configFile ? { file: configFile } : {});
  const pod = decodePodConfig(JSON.parse(fs.readFileSync(file, 'utf8')));
  const cfg = validateSandboxConfig(pod, { logRoot: config.security.logRoot, mountSourceDenyList: [] });
  const table = buildRoutingTable(config, (k) => KNOWN_CAPABILITIES[k]);
  const sel = select(podFacts(cfg, runtimeHandler), table);
  const md = cfg.metadata;
  process.stdout.write(
    `pod ${md?.namespace}/${md?.name}\n` + `handler: ${sel.handler}\nbackend: ${sel.backend}\nreason:  ${sel.reason}\n`,
  );
  return 0;
}
