/**
 * Durable records of the vm backend: one JSON file per pod (<stateDir>/pods/<id>/pod.json) holding the sandbox and
 * its containers. Together with the qemu pidfile and the sockets they are what a restarted crimux finds its VMs
 * by. Writes are atomic (tmp + rename); every record carries a version. Records change only through save(),
 * called under the pod's lock.
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as cri from '../../cri/types';
import { RecordDir } from '../../host/record-dir';
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
  private readonly records: RecordDir<PodRecord>;

  constructor(
    readonly dir: string,
    files: RecordFiles,
  ) {
    fs.mkdirSync(path.join(dir, 'pods'), { recursive: true });
    // No log: a pod dir without a record is a half-created pod, which the router's reconcile removes by ID.
    this.records = new RecordDir({
      dir: path.join(dir, 'pods'),
      fileName: 'pod.json',
      version: RECORD_VERSION,
      kind: 'pod',
      files,
    });
  }

  podDir(id: string): string {
    return path.join(this.dir, 'pods', id);
  }

  /** Synchronous: recordExit and markDead run without the pod lock and change a pod and write it in one turn. */
  save(pod: PodRecord): void {
    this.records.putSync(pod);
  }

  loadAll(): PodRecord[] {
    return [...this.records.listSync().values()];
  }

  /** The whole pod dir: the record, the console log and the containers' disks. */
  delete(id: string): void {
    fs.rmSync(this.podDir(id), { recursive: true, force: true });
  }
}
