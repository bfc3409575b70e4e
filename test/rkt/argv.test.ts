/**
 * Every command line the rkt backend builds from request or image values (issue #19): the stage1 enter chain, its
 * in-pod mount script and crimux-stage1 calls, and the real-rkt command lines. A value that begins with "-" is
 * either after a "--" (or inside a `--flag=value` word) or refused; the environment never reaches a command line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appAddArgs, appSandboxArgs } from '../../src/backends/rkt/rkt-cli/args';
import { enterArgv, envFileContent, helperCall, podSideSetupScript } from '../../src/backends/rkt/stage1/scripts';
import { InvalidArgumentError } from '../../src/errors';
import { appSpec } from './contract';

const HOSTILE = '--split-string=A=1 /bin/sh -c "echo PWNED" x';

describe('rkt command lines never take request values as options', () => {
  it('enter chain: env is never on it; working dir and argv follow the helper\'s "--"', () => {
    for (const own of [false, true]) {
      const argv = enterArgv({
        pid1: 7,
        root: '/opt/stage2/0-a/rootfs',
        workingDir: '-w',
        uid: 1000,
        gid: 1000,
        groups: [],
        bounding: ['CAP_SYS_CHROOT', 'CAP_SETUID'],
        noNewPrivileges: false,
        helper: '/rkt/bin/crimux-stage1',
        envFile: '/rkt/env/0-a',
        argv: [HOSTILE, '-S', '--'],
        ...(own
          ? {
              ownPidNamespace: {
                maskedPaths: ['/proc/-x'],
                readonlyPaths: ['/proc/--y'],
                readyFile: '/rkt/status/0-a-nsready',
              },
            }
          : {}),
      });
      const env = argv.indexOf('/usr/bin/env');
      assert.deepEqual(
        argv.slice(env, env + 3),
        ['/usr/bin/env', '-i', '/usr/bin/setpriv'],
        'env -i takes no assignment at all',
      );
      assert.equal(argv.indexOf(HOSTILE), argv.length - 3, "the hostile word is only the app's argv[0]");
      const helper = argv.indexOf('/rkt/bin/crimux-stage1');
      // --caps lists capability numbers crimux derived (bounding set, issue #20): no request value is an option.
      assert.deepEqual(argv.slice(helper, helper + 5), [
        '/rkt/bin/crimux-stage1',
        'exec',
        '--uid=1000',
        '--caps=7,18',
        '--',
      ]);
      assert.deepEqual(argv.slice(helper + 5), ['/rkt/env/0-a', '/opt/stage2/0-a/rootfs', '-w', HOSTILE, '-S', '--']);
      assert.equal(argv[argv.indexOf('/usr/bin/setpriv') - 1], '-i');
      assert.equal(argv[helper - 1], '--', 'setpriv stops parsing before the helper');
    }
  });

  it('env file: NUL-separated, every entry NAME=value, nothing split or smuggled', () => {
    assert.equal(envFileContent(['--split-string=x y', 'A=1\n2']), '--split-string=x y\0A=1\n2\0');
    assert.throws(() => envFileContent(['/bin/sh']), InvalidArgumentError);
    assert.throws(() => envFileContent(['=x']), InvalidArgumentError);
    assert.throws(() => envFileContent(['A=1\0LD_PRELOAD=/x.so']), InvalidArgumentError);
  });

  it('in-pod mount script: every path is a quoted argument after "--" of crimux-stage1', () => {
    const script = podSideSetupScript({
      helper: '/rkt/bin/crimux-stage1',
      root: '/opt/stage2/0-a/rootfs',
      etcFiles: [{ src: '/rkt/etc/hosts', dst: '/etc/hosts' }],
      maskedPaths: ['-rf', "/x'; reboot; '"],
      readonlyPaths: ['--bind'],
      readOnlyRootfs: true,
    });
    const lines = script.split('\n').slice(1);
    for (const line of lines) {
      assert.match(
        line,
        /^'\/rkt\/bin\/crimux-stage1' '(fs|bind|mask|readonly|setattr)'( '--[a-z=]+')* '--' '\/opt\/stage2\/0-a\/rootfs'/,
        line,
      );
    }
    assert.ok(lines.includes(`'/rkt/bin/crimux-stage1' 'mask' '--' '/opt/stage2/0-a/rootfs' '-rf'`));
    assert.ok(lines.includes(`'/rkt/bin/crimux-stage1' 'mask' '--' '/opt/stage2/0-a/rootfs' '/x'\\''; reboot; '\\'''`));
    assert.ok(lines.includes(`'/rkt/bin/crimux-stage1' 'readonly' '--' '/opt/stage2/0-a/rootfs' '--bind'`));
    assert.equal(helperCall('/h', 'mkdir', [], ['/r', '-p']), `'/h' 'mkdir' '--' '/r' '-p'`);
    // /sys with every submount read-only: on cgroup v2 it carries nspawn's writable payload cgroup (node VM suite).
    assert.ok(
      lines.includes(
        `'/rkt/bin/crimux-stage1' 'bind' '--recursive' '--readonly' '--create=dir' '--' '/opt/stage2/0-a/rootfs' '/sys' '/sys'`,
      ),
    );
  });

  it('real rkt: app add keeps values in --flag=value words and refuses what would change the line', () => {
    const ok = appAddArgs(
      'u-1',
      appSpec('0-a', 'busybox', ['/bin/sh', '-c', HOSTILE], { environment: [`X=${HOSTILE}`], workingDir: '-w' }),
    );
    assert.deepEqual(ok.slice(0, 3), ['add', 'u-1', 'busybox']);
    assert.ok(ok.includes(`--environment=X=${HOSTILE}`) && ok.includes('--working-dir=-w'));
    assert.deepEqual(ok.slice(-5), ['--exec=/bin/sh', '--', '-c', HOSTILE, '---']);
    const vol = (hostPath: string, containerPath: string) =>
      appSpec('0-a', 'busybox', ['/bin/true'], { mounts: [{ name: 'v0', hostPath, containerPath, readOnly: true }] });
    assert.throws(
      () => appAddArgs('u-1', vol('/srv', '/data,kind=host,source=/,target=/x')),
      /mounts\[0\]\.container_path/,
    );
    assert.throws(() => appAddArgs('u-1', vol('/srv,readOnly=false', '/data')), /mounts\[0\]\.host_path/);
    assert.throws(() => appAddArgs('u-1', vol('/srv', '/a=b')), InvalidArgumentError);
    assert.throws(() => appAddArgs('u-1', appSpec('0-a', '--insecure-options=all', ['/bin/true'])), /image/);
    assert.throws(() => appAddArgs('u-1', appSpec('0-a', 'busybox', ['/bin/sh', '---', '--exec=/bin/evil'])), /---/);
    assert.throws(
      () => appAddArgs('u-1', appSpec('0-a', 'busybox', ['/bin/true'], { environment: ['A=1\nB=2'] })),
      InvalidArgumentError,
    );
    assert.throws(
      () => appAddArgs('u-1', appSpec('0-a', 'busybox', ['/bin/true'], { userAnnotations: { 'a=b': 'c' } })),
      /annotation/,
    );
  });

  it('real rkt: app sandbox refuses annotation and label keys holding "="', () => {
    const base = { network: { kind: 'host' as const }, userAnnotations: {}, userLabels: {} };
    assert.ok(appSandboxArgs({ ...base, hostname: '-h' }, '/u', '').includes('--hostname=-h'));
    assert.throws(() => appSandboxArgs({ ...base, userLabels: { 'k=v': 'x' } }, '/u', ''), /label/);
  });
});
