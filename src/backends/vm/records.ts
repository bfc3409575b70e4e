/**
 * Durable records of the vm backend: one JSON file per pod (<stateDir>/pods/<id>/pod.json) holding the sandbox and
 * its containers. Together with the qemu pidfile and the sockets they are what a restarted crimux finds its VMs
 * by. Writes are atomic (tmp + rename); every record carries a version. Records change only through save(),
 * called under the pod's lock.
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as cri from '../../cri/types';
import type { RecordFiles } from '../host';

export const RECORD_VERSION = 1;

export interface ContainerRecord {
  id: string;
  podId: string;
  config: cri.ContainerConfig;
  imageId: string;
  imageRef: string;
  digestRef?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  state: 'created' | 'running' | 'exited';
  reason?: string;
  message?: string;
  logPath: string;
  lun: number;
  serial: string;
  overlay: string;
  stopSignal: string;
  /** The process's identity as the guest's runc applies it (absent in records written before it was kept). */
  user?: { uid: number; gid: number; additionalGids: number[] };
}

export interface PodRecord {
  version: number;
  id: string;
  handler: string;
  config: cri.PodSandboxConfig;
  createdAt: string;
  state: 'ready' | 'notready';
  vm: { runDir: string; pid: number; memMiB: number; vcpus: number; accel: string; cloned: boolean; bootMs: number };
  net?: { netns: string; ip?: string; ips: string[]; mac?: string; cidr?: string; gateway?: string };
  containers: Record<string, ContainerRecord>;
  nextLun: number;
}

export class Store {
  constructor(
    readonly dir: string,
    private readonly files: RecordFiles,
  ) {
    fs.mkdirSync(path.join(dir, 'pods'), { recursive: true });
  }

  podDir(id: string): string {
    return path.join(this.dir, 'pods', id);
  }

  save(pod: PodRecord): void {
    const dir = this.podDir(pod.id);
    fs.mkdirSync(dir, { recursive: true });
    this.files.writeAtomicSync(path.join(dir, 'pod.json'), JSON.stringify(pod));
  }

  loadAll(): PodRecord[] {
    const out: PodRecord[] = [];
    for (const id of fs.readdirSync(path.join(this.dir, 'pods'))) {
      try {
        const rec = JSON.parse(fs.readFileSync(path.join(this.podDir(id), 'pod.json'), 'utf8')) as PodRecord;
        if (rec.version === RECORD_VERSION) out.push(rec);
      } catch {
        // a half-created pod without a record: the router's reconcile removes it by ID
      }
    }
    return out;
  }

  delete(id: string): void {
    fs.rmSync(this.podDir(id), { recursive: true, force: true });
  }
}
