/**
 * deploy/installer/install.sh and uninstall.sh against a scratch host root with fake systemctl and kubectl
 * (systemd is not PID 1 here): install, an idempotent second run, an upgrade, a clean uninstall, and the refusals
 * that protect a node (missing host tools, bad config, no socket, kubelet still using crimux, mounts under state).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildRoot, configData } from './manifests';
import { createScratchHost, diffSnapshots, type ScratchHost } from './scratch-host';

const BASE_CONFIG = configData(buildRoot('base'), 'crimux.json');
const MULTI_CONFIG = configData(buildRoot('overlays/multi-runtime'), 'crimux.json');
const ALL_TOOLS = [
  '/usr/sbin/runc',
  '/usr/bin/conmon',
  '/usr/bin/qemu-system-x86_64',
  '/usr/bin/qemu-img',
  '/usr/sbin/dockerd',
  '/usr/bin/systemd-nspawn',
];
const REMOVE_OTHER_LABELS = ['crimux.io/vm-', 'crimux.io/docker-', 'crimux.io/rkt-'];

const hosts: ScratchHost[] = [];
function host(config = BASE_CONFIG, hostTools?: string[]): ScratchHost {
  const h = createScratchHost({ config, ...(hostTools ? { hostTools } : {}) });
  hosts.push(h);
  return h;
}
after(() => hosts.forEach((h) => h.cleanup()));

function ok(r: { status: number | null; stderr: string }, what: string): void {
  assert.equal(r.status, 0, `${what} failed:\n${r.stderr}`);
}

function read(h: ScratchHost, p: string): string {
  return fs.readFileSync(path.join(h.root, p), 'utf8');
}

describe('install.sh / uninstall.sh on a scratch host', () => {
  test('installs, changes nothing on a second run, upgrades, and uninstalls back to the node as it was', () => {
    const h = host();
    const before = h.snapshot();

    ok(h.run('install.sh'), 'install');
    const unit = read(h, 'etc/systemd/system/crimux.service');
    for (const line of [
      'KillMode=process',
      'Delegate=yes',
      'Restart=always',
      'OOMScoreAdjust=-999',
      'LimitNOFILE=1048576',
      'ExecStart=/opt/crimux/bin/node /opt/crimux/dist/src/cli/main.js serve --config /etc/crimux/crimux.json',
      'WantedBy=multi-user.target',
    ]) {
      assert.ok(unit.split('\n').includes(line), `unit lacks ${line}`);
    }
    assert.doesNotMatch(unit, /@[A-Z_]+@/, 'unit has an unrendered placeholder');
    assert.equal(read(h, 'etc/crimux/crimux.json'), BASE_CONFIG);
    assert.equal(
      read(h, 'opt/crimux/dist/src/cli/main.js'),
      fs.readFileSync(path.join(h.image, 'dist/src/cli/main.js'), 'utf8'),
    );
    assert.equal(
      read(h, 'etc/cni/net.d/10-crimux.conflist'),
      fs.readFileSync(path.join(h.configMount, '10-crimux.conflist'), 'utf8'),
    );
    assert.ok(fs.lstatSync(path.join(h.root, 'run/crimux/crimux.sock')).isSocket());
    assert.equal(
      fs.readlinkSync(path.join(h.root, 'etc/systemd/system/multi-user.target.wants/crimux.service')),
      '/etc/systemd/system/crimux.service',
    );
    assert.deepEqual(h.calls('systemctl'), [
      'daemon-reload',
      'enable crimux.service',
      'is-active --quiet crimux.service',
      'start crimux.service',
    ]);
    assert.deepEqual(h.calls('kubectl'), [
      [
        'label node node-1 --overwrite crimux.io/installed=true crimux.io/backends=runc crimux.io/runc=true',
        ...REMOVE_OTHER_LABELS,
      ].join(' '),
    ]);
    const installed = h.snapshot();

    h.resetCalls();
    ok(h.run('install.sh'), 'second install');
    assert.deepEqual(diffSnapshots(installed, h.snapshot()), [], 'a second run changed files');
    assert.deepEqual(
      h.calls('systemctl'),
      ['enable crimux.service', 'is-active --quiet crimux.service'],
      'a second run (re)started the daemon',
    );

    // A new config (what a `kubectl apply` of the ConfigMap brings) replaces the file and restarts the daemon.
    h.resetCalls();
    fs.writeFileSync(
      path.join(h.configMount, 'crimux.json'),
      BASE_CONFIG.replace('"logLevel": "info"', '"logLevel": "debug"'),
    );
    ok(h.run('install.sh'), 'upgrade');
    assert.match(read(h, 'etc/crimux/crimux.json'), /"logLevel": "debug"/);
    assert.deepEqual(h.calls('systemctl'), [
      'enable crimux.service',
      'is-active --quiet crimux.service',
      'restart crimux.service',
    ]);

    h.resetCalls();
    ok(h.run('uninstall.sh'), 'uninstall');
    // Only the daemon's own state is left: the ownership store (kept without --purge) and its run dir.
    assert.deepEqual(diffSnapshots(before, h.snapshot()), [
      '+run/crimux',
      '+var/lib/crimux',
      '+var/lib/crimux/crimux.db',
    ]);
    assert.deepEqual(h.calls('systemctl'), [
      'stop crimux.service',
      'disable crimux.service',
      'daemon-reload',
      'reset-failed crimux.service',
    ]);
    assert.deepEqual(h.calls('kubectl'), [
      'label node node-1 --overwrite crimux.io/installed- crimux.io/backends- crimux.io/runc- crimux.io/vm- crimux.io/docker- crimux.io/rkt-',
    ]);

    ok(h.run('uninstall.sh'), 'second uninstall');
    ok(h.run('uninstall.sh', ['--purge']), 'purge');
    assert.deepEqual(diffSnapshots(before, h.snapshot()), []);
  });

  test('the multi-runtime overlay config: every backend, metrics on the node IP, labels for each backend', () => {
    const h = host(MULTI_CONFIG, ALL_TOOLS);
    ok(h.run('install.sh', [], { NODE_IP: '10.1.2.3' }), 'install');
    const cfg = JSON.parse(read(h, 'etc/crimux/crimux.json')) as { metrics: { address: string } };
    assert.equal(cfg.metrics.address, '10.1.2.3:9611');
    assert.deepEqual(h.calls('kubectl'), [
      'label node node-1 --overwrite crimux.io/installed=true crimux.io/backends=runc.vm.docker.rkt crimux.io/runc=true crimux.io/vm=true crimux.io/docker=true crimux.io/rkt=true',
    ]);
  });

  test('refuses before touching the host: missing host tools, a rejected config, @NODE_IP@ without NODE_IP', () => {
    const h = host(MULTI_CONFIG, ['/usr/sbin/runc', '/usr/bin/conmon']);
    const before = h.snapshot();
    let r = h.run('install.sh', [], { NODE_IP: '10.1.2.3' });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /qemu-system-x86_64 \(package qemu-system-x86\).*dockerd \(package docker\.io\).*systemd-nspawn \(package systemd-container\)/,
    );

    r = h.run('install.sh');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /uses @NODE_IP@ but NODE_IP is not set/);

    fs.writeFileSync(
      path.join(h.configMount, 'crimux.json'),
      BASE_CONFIG.replace('"logLevel": "info"', '"logLevel": "loud"'),
    );
    r = h.run('install.sh');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /config rejected by crimux config check: .*logLevel/s);

    assert.deepEqual(diffSnapshots(before, h.snapshot()), []);
    assert.deepEqual(h.calls('systemctl'), []);
  });

  test('keeps a CNI config the node already has, and leaves it in place on uninstall', () => {
    const h = host();
    fs.mkdirSync(path.join(h.root, 'etc/cni/net.d'), { recursive: true });
    fs.writeFileSync(path.join(h.root, 'etc/cni/net.d/10-flannel.conflist'), '{"name":"cbr0"}\n');
    const before = h.snapshot();
    const r = h.run('install.sh');
    ok(r, 'install');
    assert.match(r.stderr, /keeping the node's CNI config/);
    assert.ok(!fs.existsSync(path.join(h.root, 'etc/cni/net.d/10-crimux.conflist')));
    ok(h.run('uninstall.sh', ['--purge']), 'uninstall');
    assert.deepEqual(diffSnapshots(before, h.snapshot()), []);
  });

  test('the unit leaves OOMScoreAdjust out when OOM_SCORE_ADJ is empty; bad values are refused', () => {
    const h = host();
    ok(h.run('install.sh', [], { OOM_SCORE_ADJ: '' }), 'install');
    assert.doesNotMatch(read(h, 'etc/systemd/system/crimux.service'), /OOMScoreAdjust/);
    const r = h.run('install.sh', [], { OOM_SCORE_ADJ: '-5000' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /OOM_SCORE_ADJ must be an integer/);
  });

  test('waits for the socket with a bound, and names the journal when it never comes', () => {
    const h = host();
    const started = Date.now();
    const r = h.run('install.sh', [], { FAKE_NO_SOCKET: '1', SOCKET_TIMEOUT: '2' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no socket at \/run\/crimux\/crimux\.sock within 2s; see: journalctl -u crimux\.service/);
    assert.ok(Date.now() - started < 30_000);
    // What it installed is recorded, so uninstall can still restore the node.
    ok(h.run('uninstall.sh', ['--purge']), 'uninstall after a failed install');
    assert.ok(!fs.existsSync(path.join(h.root, 'opt/crimux')));
  });

  test('uninstall refuses while the kubelet points at crimux (config file or command line), unless --force', () => {
    const h = host();
    ok(h.run('install.sh'), 'install');
    fs.writeFileSync(
      path.join(h.root, 'var/lib/kubelet/config.yaml'),
      'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/crimux/crimux.sock\n',
    );
    let r = h.run('uninstall.sh');
    assert.equal(r.status, 3);
    assert.match(r.stderr, /the kubelet uses \/run\/crimux\/crimux\.sock \(\/var\/lib\/kubelet\/config\.yaml\)/);
    assert.ok(fs.existsSync(path.join(h.root, 'etc/systemd/system/crimux.service')));

    fs.rmSync(path.join(h.root, 'var/lib/kubelet/config.yaml'));
    fs.mkdirSync(path.join(h.proc, '4242'));
    fs.writeFileSync(path.join(h.proc, '4242/comm'), 'kubelet\n');
    fs.writeFileSync(
      path.join(h.proc, '4242/cmdline'),
      ['/usr/bin/kubelet', '--container-runtime-endpoint=unix:///run/crimux/crimux.sock', ''].join('\0'),
    );
    r = h.run('uninstall.sh');
    assert.equal(r.status, 3);
    assert.match(r.stderr, /command line/);

    ok(h.run('uninstall.sh', ['--force']), 'forced uninstall');
    assert.ok(!fs.existsSync(path.join(h.root, 'etc/systemd/system/crimux.service')));
  });

  test('--purge refuses while something is mounted under the state or run dir', () => {
    const h = host();
    ok(h.run('install.sh'), 'install');
    const mountinfo = path.join(h.dir, 'mountinfo');
    fs.writeFileSync(
      mountinfo,
      '101 25 0:52 / /var/lib/crimux/snapshots/abc/merged rw,relatime - overlay overlay rw\n',
    );
    const r = h.run('uninstall.sh', ['--purge'], { MOUNTINFO: mountinfo });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--purge refused: still mounted .*\/var\/lib\/crimux\/snapshots\/abc\/merged/);
    assert.ok(fs.existsSync(path.join(h.root, 'var/lib/crimux/crimux.db')), 'state was deleted');
  });
});
