/**
 * Custom convict formats for the structured parts of the config (handler table, routing rules, annotation
 * policy, registry hosts). Each validator throws a message naming the offending key, so a bad config is refused
 * with a pointer to the line to fix.
 */

const BACKEND_KINDS = ['runc', 'vm', 'docker', 'rkt'];
const HANDLER_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(where: string, obj: Record<string, unknown>, allowed: string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new Error(`${where}: unknown key "${k}" (allowed: ${allowed.join(', ')})`);
  }
}

function stringArray(where: string, v: unknown): void {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`${where}: must be a list of strings`);
}

function stringMap(where: string, v: unknown): void {
  if (!isObject(v) || Object.values(v).some((s) => typeof s !== 'string')) {
    throw new Error(`${where}: must be an object of strings`);
  }
}

export const handlersFormat = {
  name: 'crimux-handlers',
  validate(value: unknown): void {
    if (!isObject(value)) throw new Error('handlers: must be an object keyed by handler name');
    for (const [name, spec] of Object.entries(value)) {
      const where = `handlers.${name}`;
      if (!HANDLER_NAME.test(name)) throw new Error(`${where}: handler names are DNS labels (a-z, 0-9, -, .)`);
      if (!isObject(spec)) throw new Error(`${where}: must be an object`);
      onlyKeys(where, spec, ['backend', 'options']);
      if (typeof spec.backend !== 'string' || !BACKEND_KINDS.includes(spec.backend)) {
        throw new Error(`${where}.backend: must be one of ${BACKEND_KINDS.join(', ')}`);
      }
      if (spec.options !== undefined && !isObject(spec.options)) throw new Error(`${where}.options: must be an object`);
    }
  },
};

const RULE_MATCH_KEYS = ['namespaces', 'labels', 'privileged', 'hostNetwork', 'hostPid', 'hostIpc'];

export const rulesFormat = {
  name: 'crimux-routing-rules',
  validate(value: unknown): void {
    if (!Array.isArray(value)) throw new Error('routing.rules: must be a list');
    value.forEach((rule: unknown, i) => {
      const where = `routing.rules[${i}]`;
      if (!isObject(rule)) throw new Error(`${where}: must be an object`);
      onlyKeys(where, rule, ['name', 'handler', 'pin', 'match']);
      if (rule.pin !== undefined && typeof rule.pin !== 'boolean') throw new Error(`${where}.pin: must be a boolean`);
      if (typeof rule.name !== 'string' || rule.name === '') throw new Error(`${where}.name: required`);
      if (typeof rule.handler !== 'string' || rule.handler === '') throw new Error(`${where}.handler: required`);
      if (!isObject(rule.match)) throw new Error(`${where}.match: must be an object`);
      onlyKeys(`${where}.match`, rule.match, RULE_MATCH_KEYS);
      const m = rule.match;
      if (m.namespaces !== undefined) stringArray(`${where}.match.namespaces`, m.namespaces);
      if (m.labels !== undefined) stringMap(`${where}.match.labels`, m.labels);
      for (const k of ['privileged', 'hostNetwork', 'hostPid', 'hostIpc']) {
        if (m[k] !== undefined && typeof m[k] !== 'boolean') throw new Error(`${where}.match.${k}: must be a boolean`);
      }
    });
  },
};

export const policyFormat = {
  name: 'crimux-annotation-policy',
  validate(value: unknown): void {
    if (!Array.isArray(value)) throw new Error('routing.annotationPolicy: must be a list');
    value.forEach((entry: unknown, i) => {
      const where = `routing.annotationPolicy[${i}]`;
      if (!isObject(entry)) throw new Error(`${where}: must be an object`);
      onlyKeys(where, entry, ['namespaces', 'handlers']);
      stringArray(`${where}.namespaces`, entry.namespaces);
      stringArray(`${where}.handlers`, entry.handlers);
    });
  },
};

export const registriesFormat = {
  name: 'crimux-registries',
  validate(value: unknown): void {
    if (!isObject(value)) throw new Error('images.registries: must be an object keyed by registry host');
    for (const [host, spec] of Object.entries(value)) {
      const where = `images.registries.${host}`;
      if (!isObject(spec)) throw new Error(`${where}: must be an object`);
      onlyKeys(where, spec, ['endpoints', 'credentialsFile', 'credentialRealms']);
      if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
        throw new Error(`${where}.endpoints: must be a non-empty list`);
      }
      spec.endpoints.forEach((ep: unknown, i) => {
        const w = `${where}.endpoints[${i}]`;
        if (!isObject(ep)) throw new Error(`${w}: must be an object`);
        onlyKeys(w, ep, ['url', 'insecureSkipVerify', 'ca', 'clientCert', 'clientKey']);
        if (typeof ep.url !== 'string' || !/^https?:\/\/[^/]+/.test(ep.url)) {
          throw new Error(`${w}.url: must be an http:// or https:// URL`);
        }
        if (ep.insecureSkipVerify !== undefined && typeof ep.insecureSkipVerify !== 'boolean') {
          throw new Error(`${w}.insecureSkipVerify: must be a boolean`);
        }
        if (ep.ca !== undefined && typeof ep.ca !== 'string') stringArray(`${w}.ca`, ep.ca);
        for (const k of ['ca', 'clientCert', 'clientKey'] as const) {
          const paths = typeof ep[k] === 'string' ? [ep[k]] : Array.isArray(ep[k]) ? ep[k] : [];
          if (paths.some((p) => typeof p === 'string' && !p.startsWith('/'))) {
            throw new Error(`${w}.${k}: must be an absolute path (the daemon's working directory is not the config's)`);
          }
        }
        for (const k of ['clientCert', 'clientKey'] as const) {
          if (ep[k] !== undefined && typeof ep[k] !== 'string') throw new Error(`${w}.${k}: must be a path`);
        }
        if (ep.clientKey !== undefined && ep.clientCert === undefined) {
          throw new Error(`${w}.clientKey: needs clientCert`);
        }
        if ((ep.ca !== undefined || ep.clientCert !== undefined) && !String(ep.url).startsWith('https://')) {
          throw new Error(`${w}: ca and clientCert apply to https:// endpoints only`);
        }
      });
      if (spec.credentialsFile !== undefined && typeof spec.credentialsFile !== 'string') {
        throw new Error(`${where}.credentialsFile: must be a path`);
      }
      if (spec.credentialRealms !== undefined) stringArray(`${where}.credentialRealms`, spec.credentialRealms);
    }
  },
};

/** images.platform: empty (the node's own) or os/architecture[/variant]. */
export function platformFormat(value: unknown): void {
  if (typeof value !== 'string') throw new Error('must be a string');
  if (value === '') return;
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/i.test(p))) {
    throw new Error(`"${value}" is not os/architecture[/variant], e.g. linux/arm64/v8`);
  }
}
