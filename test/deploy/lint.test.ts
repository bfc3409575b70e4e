/**
 * Static checks of deploy/'s non-YAML files: the Dockerfile (dockerfile-utils' linter; no `docker build` can run
 * here, since base images come from the internet), the files it copies exist, the systemd unit's paths match the
 * image layout, and the shell scripts are shellcheck-clean (bash -n where shellcheck is not installed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { validate } from 'dockerfile-utils';
import { DEPLOY, REPO } from './manifests';

const DOCKERFILE = path.join(DEPLOY, 'image/Dockerfile');
const SCRIPTS = [
  ...['install.sh', 'uninstall.sh', 'lib.sh', 'run.sh'].map((f) => path.join(DEPLOY, 'installer', f)),
  ...['systemctl', 'kubectl'].map((f) => path.join(__dirname, 'fakes', f)),
];

describe('deploy/ static checks', () => {
  test('the Dockerfile lints clean, and the linter does flag a broken one', () => {
    const text = fs.readFileSync(DOCKERFILE, 'utf8');
    assert.deepEqual(
      validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`),
      [],
    );
    assert.ok(validate('FROM\nCOPY\n').length > 0, 'dockerfile-utils found nothing wrong in a broken Dockerfile');
  });

  test('what the Dockerfile copies from the build context exists (and is not ignored)', () => {
    const text = fs.readFileSync(DOCKERFILE, 'utf8').replace(/\\\n/g, ' ');
    const sources = [...text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] ?? '').trim().split(/\s+/));
    assert.ok(sources.includes('src') && sources.includes('deploy/installer/'), `parsed ${sources.join(', ')}`);
    const allowed = fs
      .readFileSync(path.join(DEPLOY, 'image/Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1));
    for (const s of sources) {
      assert.ok(fs.existsSync(path.join(REPO, s)), `COPY source ${s} does not exist`);
      assert.ok(
        allowed.some((a) => s.replace(/\/$/, '') === a || s.startsWith(`${a}/`)),
        `COPY source ${s} is excluded by Dockerfile.dockerignore`,
      );
    }
  });

  test('the unit runs the CLI the build produces, with the node the image ships', () => {
    const unit = fs.readFileSync(path.join(DEPLOY, 'installer/crimux.service'), 'utf8');
    const exec = /^ExecStart=(\S+) (\S+) serve --config (\S+)$/m.exec(unit);
    assert.ok(exec, 'no ExecStart');
    assert.equal(exec[1], '/opt/crimux/bin/node');
    // dist/src/cli/main.js is tsc's output of src/cli/main.ts (tsconfig.build.json: outDir dist, rootDir .).
    assert.equal(exec[2], '/opt/crimux/dist/src/cli/main.js');
    assert.ok(fs.existsSync(path.join(REPO, 'src/cli/main.ts')));
    assert.equal(exec[3], '/etc/crimux/crimux.json');
    const docker = fs.readFileSync(DOCKERFILE, 'utf8');
    assert.match(docker, /cp \/usr\/local\/bin\/node \/opt\/crimux\/bin\/node/);
    assert.match(docker, /COPY --from=build \/src\/dist \/opt\/crimux\/dist/);
  });

  test('the shell scripts are shellcheck-clean (bash -n without shellcheck)', (t) => {
    const probe = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      for (const s of SCRIPTS) {
        const r = spawnSync('bash', ['-n', s], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${s}: ${r.stderr}`);
      }
      t.diagnostic('shellcheck is not installed (apt-get install shellcheck): only bash -n was run');
      return;
    }
    const r = spawnSync('shellcheck', ['-x', ...SCRIPTS], { cwd: path.join(DEPLOY, 'installer'), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test("the metrics proxy is valid JavaScript for the image's node", () => {
    const r = spawnSync(process.execPath, ['--check', path.join(DEPLOY, 'installer/metrics-proxy.js')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  });
});
