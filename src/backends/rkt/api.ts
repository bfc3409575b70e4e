/**
 * rkt's api/v1 JSON shapes (rkt `api/v1/json.go`, rkt 1.30): what `rkt status|list|app status --format=json` and
 * `rkt image list --format=json` print. Both pod managers return exactly these, so the CRI translation above them
 * cannot tell a real rkt from the built-in stage1. Times are nanoseconds since the epoch: int64 JSON numbers in
 * rkt, which a double cannot hold exactly (2^53 ns is only 104 days), so in TypeScript they are decimal strings,
 * converted at the JSON boundary by parseRktJson/stringifyRktJson.
 */

/** rkt's app states (lib/app.go). */
export type AppState = 'unknown' | 'created' | 'running' | 'exited';

/** rkt's pod states (pkg/pod/pods.go); the CRI only distinguishes "running" from the rest. */
export type PodState =
  | 'embryo'
  | 'preparing'
  | 'aborted prepare'
  | 'prepared'
  | 'running'
  | 'deleting'
  | 'exited'
  | 'exited garbage'
  | 'garbage'
  | 'unknown';

export interface Mount {
  readonly name: string;
  readonly container_path: string;
  readonly host_path: string;
  readonly read_only: boolean;
}

export interface App {
  readonly name: string;
  readonly state: AppState;
  readonly created_at?: string;
  readonly started_at?: string;
  readonly finished_at?: string;
  readonly exit_code?: number;
  readonly image_id: string;
  readonly mounts?: Mount[];
  readonly user_annotations?: Record<string, string>;
  readonly user_labels?: Record<string, string>;
}

/** rkt's networking/netinfo.NetInfo as JSON. */
export interface NetInfo {
  readonly netName: string;
  readonly netConf?: string;
  readonly pluginPath?: string;
  readonly ifName: string;
  readonly ip: string;
  readonly args?: string;
  readonly mask?: string;
}

export interface Pod {
  /** The pod UUID (rkt names the field "name"). */
  readonly name: string;
  readonly state: PodState;
  readonly networks?: NetInfo[];
  readonly app_names?: string[];
  readonly apps?: App[];
  readonly created_at?: string;
  readonly started_at?: string;
  readonly user_annotations?: Record<string, string>;
  readonly user_labels?: Record<string, string>;
}

export interface ImageListEntry {
  readonly id: string;
  readonly name: string;
  readonly import_time: string;
  readonly last_used_time: string;
  readonly size: number;
}

/** User annotation the built-in stage1 adds to an app the kernel OOM-killed (rkt's App had no field for it). */
export const OOM_KILLED_ANNOTATION = 'crimux.io/oom-killed';

const TIME_FIELDS = 'created_at|started_at|finished_at|import_time|last_used_time';
const NUMBER_TIME = new RegExp(`"(${TIME_FIELDS})":\\s*(-?\\d+)`, 'g');
const STRING_TIME = new RegExp(`"(${TIME_FIELDS})":(\\s*)"(-?\\d+)"`, 'g');

/** JSON.parse of rkt output, keeping the int64 nanosecond times exact (as decimal strings). */
export function parseRktJson<T>(text: string): T {
  return JSON.parse(text.replace(NUMBER_TIME, '"$1":"$2"')) as T;
}

/** JSON as rkt prints it: times as bare int64 numbers. */
export function stringifyRktJson(value: unknown, indent?: string): string {
  return JSON.stringify(value, null, indent).replace(STRING_TIME, '"$1":$2$3');
}
