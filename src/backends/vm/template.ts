/**
 * Template VM snapshots (notes §6.3): one generic VM per (guest build, accelerator, RAM, vCPUs) is booted once,
 * left idle until its agent answers, and saved with QMP migrate-to-file. Pods of that size then start as clones
 * (`-incoming`), which the backend personalises with `claim` (clock, entropy, hostname) and `netconf` (MAC, IP).
 * Templates live in <stateDir>/templates/<key>/ and survive restarts; a stale key (new kernel or agent) is deleted.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../log/logger';
import { bootVm, snapshotVm } from './boot';
import type { GuestArtefacts } from './guest';
import { TAP } from './net';
import { isQemu, qemuProcessesUnder, readPid, vmPaths, type Accel } from './qemu';
import type { Semaphore } from './semaphore';

export interface TemplateOptions {
  readonly stateDir: string;
  readonly runDir: string;
  readonly qemu: string;
  readonly accel: Accel;
  readonly guest: GuestArtefacts;
  readonly bootTimeoutMs: number;
  readonly boots: Semaphore;
  readonly log: Logger;
  /**
   * A scratch netns holding a tap named like the pods' (removed with the returned function). The template needs
   * the same netdev type as its clones: a user-mode (slirp) netdev adds its own section to the saved state, which
   * a tap-backed clone then refuses to load ("Unknown savevm section 'slirp'").
   */
  readonly scratchNetns: (name: string) => Promise<{ path: string; remove: () => Promise<void> }>;
}

/** Names of the template builds' scratch netns (`vmtmpl-<key[:8]>`); setup.ts sweeps leftovers at start-up. */
export const SCRATCH_NETNS_PREFIX = 'vmtmpl-';

export class Templates {
  private readonly building = new Map<string, Promise<string | undefined>>();
  private readonly root: string;

  private readonly closing = new AbortController();

  constructor(private readonly o: TemplateOptions) {
    this.root = path.join(o.stateDir, 'templates');
    this.killStale();
  }

  /** Stop builds in flight (crimux shutdown): a half-built template VM must not outlive the daemon. */
  close(): void {
    this.closing.abort(new Error('vm backend closing'));
    this.killStale();
  }

  /**
   * Template VMs of this or an earlier (crashed) daemon: found by their pidfiles under <runDir>/tmpl-*, and by the
   * pidfile path in their command line — a build killed before qemu wrote its pidfile would otherwise orphan its
   * VM (#24).
   */
  private killStale(): void {
    for (const q of qemuProcessesUnder(this.o.runDir)) {
      if (!path.basename(path.dirname(q.pidFile)).startsWith('tmpl-')) continue;
      try {
        process.kill(q.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    let dirs: string[];
    try {
      dirs = fs.readdirSync(this.o.runDir).filter((d) => d.startsWith('tmpl-'));
    } catch {
      return;
    }
    for (const d of dirs) {
      const pid = readPid(path.join(this.o.runDir, d, 'qemu.pid'));
      if (pid !== undefined && isQemu(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      fs.rmSync(path.join(this.o.runDir, d), { recursive: true, force: true });
    }
  }

  private key(memMiB: number, vcpus: number): string {
    const h = crypto
      .createHash('sha256')
      .update(`${this.o.guest.buildId}|${this.o.accel}|${this.o.qemu}|${memMiB}|${vcpus}`);
    return h.digest('hex').slice(0, 16);
  }

  /** A ready template of this size (state + RAM file), or undefined (and a build starts in the background). */
  lookup(memMiB: number, vcpus: number): { state: string; mem: string } | undefined {
    const dir = path.join(this.root, this.key(memMiB, vcpus));
    const t = { state: path.join(dir, 'state'), mem: path.join(dir, 'mem') };
    if (fs.existsSync(t.state) && fs.existsSync(t.mem)) return t;
    void this.ensure(memMiB, vcpus);
    return undefined;
  }

  /** Build the template if needed; resolves with its state file, or undefined when the build failed (logged). */
  ensure(memMiB: number, vcpus: number): Promise<string | undefined> {
    const key = this.key(memMiB, vcpus);
    const file = path.join(this.root, key, 'state');
    if (fs.existsSync(file)) return Promise.resolve(file);
    let p = this.building.get(key);
    if (!p) {
      p = this.build(key, memMiB, vcpus).then(
        () => file,
        (err: unknown) => {
          this.o.log.warn('vm: template build failed; pods cold boot', { key, error: err });
          return undefined;
        },
      );
      p.finally(() => this.building.delete(key)).catch(() => undefined);
      this.building.set(key, p);
    }
    return p;
  }

  /** Remove templates of other guest builds or accelerators. */
  pruneExcept(keep: { memMiB: number; vcpus: number }[]): void {
    const keepKeys = new Set(keep.map((k) => this.key(k.memMiB, k.vcpus)));
    let entries: string[];
    try {
      entries = fs.readdirSync(this.root);
    } catch {
      return;
    }
    for (const e of entries) {
      const meta = path.join(this.root, e, 'meta.json');
      let buildId = '';
      try {
        buildId = (JSON.parse(fs.readFileSync(meta, 'utf8')) as { buildId: string }).buildId;
      } catch {
        // unreadable: treat as stale
      }
      if (!keepKeys.has(e) && buildId !== this.o.guest.buildId)
        fs.rmSync(path.join(this.root, e), { recursive: true, force: true });
    }
  }

  private async build(key: string, memMiB: number, vcpus: number): Promise<void> {
    const dir = path.join(this.root, key);
    fs.mkdirSync(dir, { recursive: true });
    // RAM files of builds that died half-way.
    for (const f of fs.readdirSync(dir)) if (f.startsWith('mem.')) fs.rmSync(path.join(dir, f), { force: true });
    const run = path.join(this.o.runDir, `tmpl-${key.slice(0, 8)}`);
    const t0 = Date.now();
    await this.o.boots.run(async () => {
      const netns = await this.o.scratchNetns(`${SCRATCH_NETNS_PREFIX}${key.slice(0, 8)}`);
      try {
        await this.bootAndSave(key, dir, run, memMiB, vcpus, netns.path);
      } finally {
        await netns.remove();
      }
    });
    this.o.log.info('vm: template ready', { key, memMiB, vcpus, ms: Date.now() - t0 });
  }

  private async bootAndSave(
    key: string,
    dir: string,
    run: string,
    memMiB: number,
    vcpus: number,
    netns: string,
  ): Promise<void> {
    // A fresh RAM file per build: clones of an earlier build may still map the old one (rename keeps their inode).
    const memTmp = path.join(dir, `mem.${process.pid}.${Date.now()}`);
    const { vm, ms } = await bootVm(
      {
        qemu: this.o.qemu,
        accel: this.o.accel,
        guest: this.o.guest,
        memMiB,
        vcpus,
        tap: TAP,
        paths: vmPaths(run, path.join(dir, 'console.log')),
        memFile: { path: memTmp, share: true },
      },
      netns,
      this.o.bootTimeoutMs,
      { onEvent: () => undefined, log: this.o.log },
      this.closing.signal,
    );
    try {
      this.closing.signal.throwIfAborted();
      await vm.request({ op: 'warmup' }, 60_000);
      this.closing.signal.throwIfAborted();
      const tmp = path.join(dir, 'state.tmp');
      await snapshotVm(vm, tmp, 120_000);
      const meta = {
        buildId: this.o.guest.buildId,
        accel: this.o.accel,
        memMiB,
        vcpus,
        bootMs: ms,
        createdAt: new Date().toISOString(),
      };
      fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
      // The state file appears last and atomically: its presence is what "template ready" means.
      fs.renameSync(memTmp, path.join(dir, 'mem'));
      fs.renameSync(tmp, path.join(dir, 'state'));
    } finally {
      await vm.destroy({ paused: true });
      fs.rmSync(memTmp, { force: true });
    }
    this.o.log.debug('vm: template saved', { key });
  }
}
