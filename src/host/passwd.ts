/**
 * Resolving a container user ("www-data", "1000", "1000:100", "www-data:users") to numeric IDs and supplementary
 * groups from the container root's /etc/passwd and /etc/group, as containerd's WithUser/WithAdditionalGIDs do.
 *
 * NOTE: the files are read from an untrusted image: a mounted root is read through ./safe-open.ts (symlinks resolved
 * inside the root, FIFOs and devices refused without blocking, size bounded); in unpacked layers a symlink on the
 * way is treated as "no such file" (its target may live in another layer).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_MAX_BYTES, readFileInRoot } from './safe-open';

export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups from /etc/group membership of the user name (without the primary gid). */
  readonly additionalGids: number[];
  readonly home?: string;
  readonly name?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Reads a file (path relative to a container root) or returns null when it is absent. */
export type FileSource = (rel: string) => Promise<string | null>;

/** Files of a mounted container root. */
export function rootSource(root: string): FileSource {
  return (rel) => readInsideRoot(root, rel);
}

/**
 * Files of an image's unpacked layers (lowest first), read top-down without mounting them: the first layer that
 * has the path wins, and an overlay whiteout (a 0/0 character device) on the way hides the lower ones.
 * NOTE: opaque directories are not honoured (reading their xattr needs a native call); an image that empties
 * /etc in a layer and then lacks /etc/passwd would see a lower layer's. Such images do not occur in practice.
 */
export function layersSource(layerDirs: readonly string[]): FileSource {
  return async (rel) => {
    const parts = rel.split('/').filter((p) => p && p !== '.');
    if (parts.includes('..')) return null;
    for (const layer of [...layerDirs].reverse()) {
      let cur = layer;
      let found = true;
      for (const p of parts) {
        cur = path.join(cur, p);
        let st;
        try {
          st = await fs.lstat(cur);
        } catch {
          found = false;
          break;
        }
        if (st.isCharacterDevice() && st.rdev === 0) return null; // whiteout: hidden in every lower layer
        if (st.isSymbolicLink()) return null;
      }
      if (found) return readInsideRoot(layer, rel);
    }
    return null;
  };
}

/**
 * Reads a file under `root` (resolved inside the root, regular files only, bounded: ./safe-open.ts); null when
 * absent or unreadable. A hostile file (FIFO, device, too large, escaping the root) is an InvalidArgumentError.
 */
export async function readInsideRoot(root: string, rel: string, maxBytes = DEFAULT_MAX_BYTES): Promise<string | null> {
  try {
    return await readFileInRoot(root, rel, maxBytes);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    return null;
  }
}

function parsePasswd(text: string | null): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid)) out.push({ name: f[0]!, uid, gid, home: f[5]! });
  }
  return out;
}

function parseGroup(text: string | null): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (Number.isInteger(gid)) out.push({ name: f[0]!, gid, members: f[3]!.split(',').filter(Boolean) });
  }
  return out;
}

const isNumeric = (s: string): boolean => /^\d+$/.test(s);

export interface UserRequest {
  /** The image's USER, or a CRI run_as_username; may be "name", "uid", "name:group", "uid:gid". */
  readonly spec?: string;
  /** CRI run_as_user: overrides the spec's user part. */
  readonly uid?: number;
  /** CRI run_as_group: overrides the group part. */
  readonly gid?: number;
}

/**
 * Resolves a user from a container root (a mounted dir or a FileSource). A numeric uid missing from /etc/passwd is allowed (primary gid 0 unless given),
 * a name missing from it is an InvalidArgumentError naming `field`, as in containerd.
 */
export async function resolveUser(files: string | FileSource, req: UserRequest, field = 'user'): Promise<ResolvedUser> {
  const read = typeof files === 'string' ? rootSource(files) : files;
  const [userPart = '', groupPart] = (req.spec ?? '').split(':', 2);
  const [passwdText, groupText] = await Promise.all([read('etc/passwd'), read('etc/group')]);
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);

  let uid = 0;
  let gid = 0;
  let entry: PasswdEntry | undefined;
  if (req.uid !== undefined) {
    uid = req.uid;
    entry = passwd.find((p) => p.uid === uid);
  } else if (userPart === '') {
    entry = passwd.find((p) => p.uid === 0);
  } else if (isNumeric(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new InvalidArgumentError(`resolve ${field}: no user "${userPart}" in the image's /etc/passwd`);
    uid = entry.uid;
  }
  if (entry) gid = entry.gid;

  if (req.gid !== undefined) {
    gid = req.gid;
  } else if (groupPart !== undefined && groupPart !== '') {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new InvalidArgumentError(`resolve ${field}: no group "${groupPart}" in the image's /etc/group`);
      gid = g.gid;
    }
  }

  const name = entry?.name;
  const additionalGids = name ? groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid) : [];
  return { uid, gid, additionalGids: [...new Set(additionalGids)], home: entry?.home, name };
}
