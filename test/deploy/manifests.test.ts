/**
 * deploy/'s manifests: every YAML document parses; every kustomization resolves (resources exist, patches
 * apply) and, where kubectl is installed, builds to exactly what `kubectl kustomize` builds; every object
 * validates against its Kubernetes schema; and the pieces agree with each other and with the daemon — selectors
 * and ports line up, RuntimeClass handlers route to their backends in the shipped config, the configs pass
 * `crimux config check`, the kubelet snippets name the daemon's socket.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import YAML from 'yaml';
import { loadYamlDocs, objectId, type KObject } from './kustomize';
import { buildRoot, configData, DEPLOY, deployFiles, find, REPO, ROOTS } from './manifests';
import { validateObject } from './schemas';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-manifests-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the checkout's crimux CLI (TypeScript through tsx). */
function crimux(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** A ConfigMap's crimux.json with @NODE_IP@ rendered as install.sh would, written to a temp file. */
function renderedConfig(objects: KObject[], name: string): string {
  const file = path.join(tmp, `${name}.json`);
  fs.writeFileSync(file, configData(objects, 'crimux.json').replaceAll('@NODE_IP@', '10.1.2.3'));
  return file;
}

const built = new Map(ROOTS.map((r) => [r, buildRoot(r)]));
const everything = built.get('.') ?? [];
const overlay = built.get('overlays/multi-runtime') ?? [];

describe('deploy/ manifests', () => {
  test('every YAML file under deploy/ parses', () => {
    const files = deployFiles('.yaml', '.yml');
    assert.ok(files.length >= 15, `only ${files.length} YAML files found`);
    for (const f of files) assert.doesNotThrow(() => loadYamlDocs(path.join(DEPLOY, f)), f);
  });

  test('every kustomization resolves, and the full one holds the expected objects', () => {
    for (const [root, objects] of built) assert.ok(objects.length > 0, `${root} built nothing`);
    const ids = everything.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(ids, [
      'ClusterRole/crimux-installer',
      'ClusterRoleBinding/crimux-installer',
      'ConfigMap/crimux-config',
      'ConfigMap/crimux-grafana-dashboard',
      'DaemonSet/crimux-installer',
      'Namespace/crimux-system',
      'PrometheusRule/crimux',
      'RuntimeClass/crimux-docker',
      'RuntimeClass/crimux-rkt',
      'RuntimeClass/crimux-runc',
      'RuntimeClass/crimux-vm',
      'Service/crimux-metrics',
      'ServiceAccount/crimux-installer',
      'ServiceMonitor/crimux',
    ]);
  });

  test('the kustomizations build to what kubectl kustomize builds', (t) => {
    const probe = spawnSync('kubectl', ['kustomize', '--help'], { encoding: 'utf8', timeout: 30_000 });
    if (probe.status !== 0) {
      t.skip('kubectl is not installed: the builds are checked by test/deploy/kustomize.ts alone');
      return;
    }
    for (const [root, objects] of built) {
      const r = spawnSync('kubectl', ['kustomize', path.join(DEPLOY, root)], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `kubectl kustomize ${root}: ${r.stderr}`);
      const theirs = new Map(
        YAML.parseAllDocuments(r.stdout)
          .map((d) => d.toJS() as KObject)
          .map((o) => [objectId(o), o]),
      );
      const ours = new Map(objects.map((o) => [objectId(o), o]));
      assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), root);
      for (const [id, o] of ours) assert.deepEqual(o, theirs.get(id), `${root}: ${id}`);
    }
  });

  test('every object validates against its Kubernetes schema, the alternatives outside kustomizations too', () => {
    const seen = new Set<string>();
    for (const objects of built.values()) {
      for (const o of objects) {
        validateObject(o);
        seen.add(o.kind);
      }
    }
    for (const o of loadYamlDocs(path.join(DEPLOY, 'monitoring/podmonitor.yaml')) as KObject[]) validateObject(o);
    // The schema check itself is live: a wrong type and a missing required field are refused.
    const vm = structuredClone(find(everything, 'RuntimeClass', 'crimux-vm'));
    assert.throws(() => validateObject({ ...vm, handler: undefined } as unknown as KObject), /handler/);
    const rule = structuredClone(find(everything, 'PrometheusRule', 'crimux')) as KObject & {
      spec: { groups: { rules: { for?: string }[] }[] };
    };
    const first = rule.spec.groups[0]?.rules[0];
    if (first) first.for = 'five minutes';
    assert.throws(() => validateObject(rule), /for/);
    assert.ok(seen.has('DaemonSet') && seen.has('PrometheusRule'));
  });

  test('the installer DaemonSet is privileged, hostPID, mounts the host dirs and runs deploy/installer', () => {
    const ds = find(everything, 'DaemonSet', 'crimux-installer') as KObject & {
      spec: { template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> } };
    };
    const pod = ds.spec.template.spec as {
      hostPID: boolean;
      hostNetwork: boolean;
      serviceAccountName: string;
      containers: {
        name: string;
        image: string;
        command: string[];
        ports?: { name: string; containerPort: number }[];
        securityContext?: { privileged?: boolean };
        lifecycle?: { preStop?: { exec: { command: string[] } } };
        volumeMounts?: { name: string; mountPath: string }[];
        env?: { name: string; value?: string }[];
      }[];
      volumes: { name: string; hostPath?: { path: string } }[];
    };
    assert.equal(pod.hostPID, true);
    assert.equal(pod.hostNetwork, true);
    const installer = pod.containers.find((c) => c.name === 'installer');
    assert.ok(installer);
    assert.equal(installer.securityContext?.privileged, true);
    const hostPaths = new Map(pod.volumes.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath?.path]));
    const mounted = (installer.volumeMounts ?? []).map((m) => [hostPaths.get(m.name), m.mountPath]);
    for (const dir of ['/opt', '/etc', '/run', '/var/lib', '/var/log']) {
      assert.ok(
        mounted.some(([h, m]) => h === dir && m === `/host${dir}`),
        `${dir} is not mounted at /host${dir}`,
      );
    }
    assert.ok(installer.env?.some((e) => e.name === 'ROOT' && e.value === '/host'));
    // The scripts the pod runs are the ones in deploy/installer (the image copies that directory there).
    const script = (p: string | undefined): string => path.join(DEPLOY, 'installer', path.basename(p ?? ''));
    assert.ok(fs.existsSync(script(installer.command[0])));
    assert.ok(fs.existsSync(script(installer.lifecycle?.preStop?.exec.command[0])));
    assert.match(installer.lifecycle?.preStop?.exec.command[0] ?? '', /uninstall\.sh$/);
    const version = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string })
      .version;
    for (const c of pod.containers)
      assert.equal(c.image, `crimux/crimux:${version}`, `${c.name} image tag is not package.json's version`);
    assert.equal(find(everything, 'ClusterRoleBinding', 'crimux-installer').subjects instanceof Array, true);
    assert.equal(pod.serviceAccountName, 'crimux-installer');
  });

  test('Service, ServiceMonitor and PodMonitor select the installer pods and a port that exists', () => {
    const ds = find(everything, 'DaemonSet', 'crimux-installer') as unknown as {
      spec: {
        template: {
          metadata: { labels: Record<string, string> };
          spec: { containers: { ports?: { name: string; containerPort: number }[] }[] };
        };
      };
    };
    const podLabels = ds.spec.template.metadata.labels;
    const ports = ds.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
    const svc = find(everything, 'Service', 'crimux-metrics') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { selector: Record<string, string>; ports: { name: string; targetPort: number }[] };
    };
    const subset = (want: Record<string, string>, have: Record<string, string>): boolean =>
      Object.entries(want).every(([k, v]) => have[k] === v);
    assert.ok(subset(svc.spec.selector, podLabels), 'Service selects no installer pod');
    assert.ok(ports.some((p) => p.name === 'metrics' && p.containerPort === svc.spec.ports[0]?.targetPort));
    const sm = find(everything, 'ServiceMonitor', 'crimux') as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    assert.ok(subset(sm.spec.selector.matchLabels, svc.metadata.labels), 'ServiceMonitor selects no Service');
    assert.ok(sm.spec.endpoints.every((e) => svc.spec.ports.some((p) => p.name === e.port)));
    const [pm] = loadYamlDocs(path.join(DEPLOY, 'monitoring/podmonitor.yaml')) as {
      spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] };
    }[];
    assert.ok(pm && subset(pm.spec.selector.matchLabels, podLabels), 'PodMonitor selects no installer pod');
    assert.ok(pm.spec.podMetricsEndpoints.every((e) => ports.some((p) => p.name === e.port)));

    // The overlay drops the sidecar and points the Service at the daemon's own port, which its config binds.
    const ovDs = find(overlay, 'DaemonSet', 'crimux-installer') as unknown as {
      spec: { template: { spec: { containers: { name: string }[] } } };
    };
    assert.deepEqual(
      ovDs.spec.template.spec.containers.map((c) => c.name),
      ['installer'],
    );
    const ovSvc = find(overlay, 'Service', 'crimux-metrics') as unknown as {
      spec: { ports: { targetPort: number }[] };
    };
    const ovCfg = JSON.parse(configData(overlay, 'crimux.json')) as { metrics: { address: string } };
    assert.equal(ovCfg.metrics.address, `@NODE_IP@:${ovSvc.spec.ports[0]?.targetPort}`);
  });

  test("the shipped configs pass crimux config check; the CNI conflist is the repository's", () => {
    for (const [name, objects] of [
      ['base', built.get('base') ?? []],
      ['overlay', overlay],
    ] as const) {
      const r = crimux('config', 'check', renderedConfig(objects, name));
      assert.equal(r.status, 0, `${name}: ${r.out}`);
      const conflist = JSON.parse(configData(objects, '10-crimux.conflist')) as unknown;
      assert.deepEqual(conflist, JSON.parse(fs.readFileSync(path.join(REPO, 'config/cni/10-crimux.conflist'), 'utf8')));
    }
  });

  test('each RuntimeClass routes to its backend under the overlay config (crimux route --explain)', () => {
    const config = renderedConfig(overlay, 'overlay-route');
    const pod = path.join(REPO, 'config/examples/pod-untrusted.json');
    const classes = everything.filter((o) => o.kind === 'RuntimeClass') as unknown as {
      metadata: { name: string };
      handler: string;
      scheduling: { nodeSelector: Record<string, string> };
      overhead?: { podFixed: Record<string, string> };
    }[];
    assert.deepEqual(classes.map((c) => `${c.metadata.name}=${c.handler}`).sort(), [
      'crimux-docker=docker',
      'crimux-rkt=rkt',
      'crimux-runc=runc',
      'crimux-vm=vm',
    ]);
    for (const rc of classes) {
      // Scheduled only where the installer labelled the node with this backend.
      assert.deepEqual(rc.scheduling.nodeSelector, { [`crimux.io/${rc.handler}`]: 'true' });
      const r = crimux('route', '--explain', pod, '--config', config, '--runtime-handler', rc.handler);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, new RegExp(`^backend: ${rc.handler}\\n`, 'm'), `${rc.metadata.name}: ${r.out}`);
      assert.match(r.out, /^reason: +runtime_handler$/m);
    }
    const vm = classes.find((c) => c.handler === 'vm');
    assert.deepEqual(vm?.overhead?.podFixed, { memory: '160Mi', cpu: '250m' });
  });

  test("the kubelet snippets point at the daemon's socket with the cgroup driver it reports", () => {
    const socket = (JSON.parse(configData(everything, 'crimux.json')) as { socket: { path: string } }).socket.path;
    const [kc] = loadYamlDocs(path.join(DEPLOY, 'kubelet/kubelet-config.yaml')) as Record<string, string>[];
    assert.equal(kc?.kind, 'KubeletConfiguration');
    assert.equal(kc?.apiVersion, 'kubelet.config.k8s.io/v1beta1');
    assert.equal(kc?.containerRuntimeEndpoint, `unix://${socket}`);
    assert.equal(kc?.imageServiceEndpoint, `unix://${socket}`);
    assert.equal(kc?.cgroupDriver, 'cgroupfs');
    // RuntimeConfig reports backends.runc.cgroupDriver (src/config/info.ts): the shipped config keeps the default.
    assert.match(
      fs.readFileSync(path.join(REPO, 'src/backends/runc/config.ts'), 'utf8'),
      /cgroupDriver: \{[^}]*default: 'cgroupfs'/,
    );
    assert.doesNotMatch(configData(everything, 'crimux.json'), /"cgroupDriver"\s*:\s*"systemd"/);
    const flags = fs.readFileSync(path.join(DEPLOY, 'kubelet/kubelet-flags.env'), 'utf8');
    assert.ok(flags.includes(`--container-runtime-endpoint=unix://${socket}`));
    assert.ok(flags.includes('--cgroup-driver=cgroupfs'));
  });

  test("the plain Prometheus scrape config keeps the installer pods' metrics port and sets job and node", () => {
    const [doc] = loadYamlDocs(path.join(DEPLOY, 'monitoring/scrape-config.yaml')) as {
      scrape_configs: {
        job_name: string;
        metrics_path: string;
        relabel_configs: { target_label?: string; regex?: string; action?: string }[];
      }[];
    }[];
    const job = doc?.scrape_configs[0];
    assert.equal(job?.job_name, 'crimux');
    assert.equal(job?.metrics_path, '/metrics');
    assert.ok(job?.relabel_configs.some((r) => r.target_label === 'node'));
    assert.ok(job?.relabel_configs.some((r) => r.action === 'keep' && r.regex === 'metrics'));
  });
});
