/**
 * Where the runc backend keeps things. Durable state (survives a crimux restart and is what recovery reads) under
 * deps.stateDir; volatile sockets and mounts under deps.runDir:
 *
 *   <stateDir>/sandboxes/<id>/sandbox.json     the sandbox record
 *   <stateDir>/sandboxes/<id>/{hostname,hosts,resolv.conf}   pod files bind-mounted into every container
 *   <stateDir>/sandboxes/<id>/pause/           bundle + conmon files of the pause container (runtime ID = sandbox ID)
 *   <stateDir>/containers/<id>/container.json  the container record
 *   <stateDir>/containers/<id>/                bundle (config.json) + conmon files: conmon.pid, pidfile, exit, oom, ctl
 *   <stateDir>/trash/{c,s}-<id>/               removed objects whose host cleanup runs in the background (reaper.ts)
 *   <runDir>/shm/<sandbox id>                  the pod's /dev/shm tmpfs (a mount point)
 *   <runDir>/s/                                conmon attach-socket symlinks (short path: sun_path is 108 bytes)
 *   <runDir>/exec/                             process specs of exec sessions
 *   <runDir>/root/<handler>/                   default runtime --root per handler
 */
import * as path from 'node:path';

export class Layout {
  constructor(
    readonly stateDir: string,
    readonly runDir: string,
  ) {}

  get sandboxesDir(): string {
    return path.join(this.stateDir, 'sandboxes');
  }
  get containersDir(): string {
    return path.join(this.stateDir, 'containers');
  }
  get trashDir(): string {
    return path.join(this.stateDir, 'trash');
  }
  get socketDir(): string {
    return path.join(this.runDir, 's');
  }
  get execDir(): string {
    return path.join(this.runDir, 'exec');
  }
  get shmRoot(): string {
    return path.join(this.runDir, 'shm');
  }

  sandboxDir(id: string): string {
    return path.join(this.sandboxesDir, id);
  }
  /** The pause container's bundle and conmon persist dir. */
  pauseDir(id: string): string {
    return path.join(this.sandboxDir(id), 'pause');
  }
  podFile(id: string, name: 'hostname' | 'hosts' | 'resolv.conf'): string {
    return path.join(this.sandboxDir(id), name);
  }
  shmDir(sandboxId: string): string {
    return path.join(this.shmRoot, sandboxId);
  }

  containerDir(id: string): string {
    return path.join(this.containersDir, id);
  }
  /** conmon's attach-socket symlink for a runtime ID. */
  socketLink(runtimeId: string): string {
    return path.join(this.socketDir, runtimeId);
  }
}

/** IDs become file and cgroup names: the router hands out hex IDs, anything else is refused before use. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
