/**
 * Kubernetes schema validation of deploy/'s objects: kubernetes-models for core, apps, rbac and node objects and
 * @kubernetes-models/prometheus-operator for the monitors and rules. Each model's validate() checks the object
 * against the API's OpenAPI schema (types, required fields, formats such as durations and quantities); like the
 * API server without strict field validation, it does not reject unknown fields.
 */
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { RuntimeClass } from 'kubernetes-models/node.k8s.io/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { KObject } from './kustomize';

interface Model {
  validate(): void;
}
type ModelClass = new (data: never) => Model;

const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'node.k8s.io/v1/RuntimeClass': RuntimeClass,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Throws when the object's kind has no schema here or the object does not validate against it. */
export function validateObject(o: KObject): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind} (add its model to test/deploy/schemas.ts)`);
  try {
    new Model(structuredClone(o) as never).validate();
  } catch (err) {
    throw new Error(`${o.kind} ${o.metadata.name}: ${(err as Error).message}`, { cause: err });
  }
}
