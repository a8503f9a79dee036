/**
 * Resolves the user a container runs as — uid, gid, supplementary gids, home — from the image config's
 * `User` (`uid`, `uid:gid`, `name`, `name:group`, empty = root), the pod's `runAsUser`/`runAsGroup`/
 * `runAsUsername`/`supplementalGroups`, and the image's own `/etc/passwd` and `/etc/group`.
 *
 * The rootfs is hostile input: `/etc/passwd` may be a symlink to `/etc/shadow`, `../../../etc/shadow`,
 * a FIFO, or huge. Files are found by walking the path one component at a time and resolving every
 * symlink as if the rootfs were `/` (chroot semantics, like filepath-securejoin), opened with
 * O_NOFOLLOW|O_NONBLOCK, required to be regular and small, and checked after opening through
 * `/proc/self/fd` to really lie inside the rootfs — so a swap between walk and open is caught too.
 */
import { constants as fsConstants } from 'node:fs';
import { lstat, open, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';

/** Who a container's process runs as. `additionalGids` starts with `gid` (CVE-2023-25173). */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
  readonly home?: string;
}

/** What decides the user; see {@link resolveImageUser}. */
export interface ImageUserSpec {
  /** The image config's `User`. */
  readonly imageUser?: string;
  readonly runAsUser?: number;
  readonly runAsGroup?: number;
  readonly runAsUsername?: string;
  readonly supplementalGroups?: readonly number[];
}

export type ResolveUserResult =
  { readonly ok: true; readonly user: ResolvedUser } | { readonly ok: false; readonly message: string };

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** Larger than any real passwd/group file; a bigger one is refused rather than read into memory. */
const maxIdFileBytes = 4 << 20;
/** Linux's own limit on symlinks followed in one lookup. */
const maxSymlinks = 40;
const maxId = 4_294_967_294;

type RootedRead =
  | { readonly kind: 'ok'; readonly text: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'error'; readonly message: string };

/**
 * Reads `file` (absolute, as the container sees it) inside `root` without ever leaving `root`:
 * symlinks resolve against `root`, `..` stops at it. `missing` when the path does not exist inside
 * the rootfs (including a dangling or looping symlink chain); `error` for anything unsafe.
 */
export async function readFileInRoot(root: string, file: string): Promise<RootedRead> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (err) {
    return { kind: 'error', message: `rootfs ${root}: ${(err as Error).message}` };
  }
  const resolved: string[] = [];
  const pending = file.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  while (pending.length > 0) {
    const comp = pending.shift() ?? '';
    if (comp === '' || comp === '.') continue;
    if (comp === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(realRoot, ...resolved, comp);
    let st;
    try {
      st = await lstat(candidate);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
      return { kind: 'error', message: `${file}: ${(err as Error).message}` };
    }
    if (st.isSymbolicLink()) {
      if (++links > maxSymlinks) return { kind: 'missing' };
      const target = await readlink(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    if (pending.length > 0 && !st.isDirectory()) return { kind: 'missing' };
    resolved.push(comp);
  }
  const full = path.join(realRoot, ...resolved);
  let fh;
  try {
    fh = await open(
      full,
      fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY,
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    // ELOOP: the last component became a symlink after the walk — someone is racing us.
    return { kind: 'error', message: `${file}: ${(err as Error).message}` };
  }
  try {
    const actual = await readlink(`/proc/self/fd/${fh.fd}`);
    if (!actual.startsWith(`${realRoot}/`)) {
      return { kind: 'error', message: `${file} resolves outside the rootfs` };
    }
    const st = await fh.stat();
    if (!st.isFile()) return { kind: 'error', message: `${file} is not a regular file` };
    if (st.size > maxIdFileBytes)
      return { kind: 'error', message: `${file} is too large (${st.size} bytes)` };
    return { kind: 'ok', text: await fh.readFile({ encoding: 'utf8' }) };
  } catch (err) {
    return { kind: 'error', message: `${file}: ${(err as Error).message}` };
  } finally {
    await fh.close();
  }
}

function parseId(s: string): number | undefined {
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= maxId ? n : undefined;
}

function lines(text: string): string[][] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/** `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f[0] === undefined || f[0] === '' || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

/** `name:password:gid:member,member`; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const gid = parseId(f[2] ?? '');
    if (f[0] === undefined || f[0] === '' || gid === undefined) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    out.push({ name: f[0], gid, members });
  }
  return out;
}

/**
 * The container's user, the way containerd's CRI plugin resolves it:
 * - `runAsUser` (or else `runAsUsername`) replaces the image's user, and then the image's group part
 *   is dropped too; `runAsGroup` replaces the group;
 * - a numeric user needs no passwd entry (its gid and home come from one if present, else gid 0);
 * - a user or group *name* must exist in the image's `/etc/passwd` / `/etc/group`, else
 *   `{ ok: false }` with the message the kubelet shows as `CreateContainerError`;
 * - `additionalGids` = the primary gid, the groups listing the user's name as a member, then
 *   `supplementalGroups`, without duplicates.
 * An empty spec is root (0:0).
 */
export async function resolveImageUser(rootfsPath: string, spec: ImageUserSpec): Promise<ResolveUserResult> {
  const image = spec.imageUser?.trim() ?? '';
  const colon = image.indexOf(':');
  let userPart = colon >= 0 ? image.slice(0, colon) : image;
  let groupPart: string | undefined = colon >= 0 ? image.slice(colon + 1) : undefined;
  if (spec.runAsUser !== undefined) {
    userPart = String(spec.runAsUser);
    groupPart = undefined;
  } else if (spec.runAsUsername !== undefined && spec.runAsUsername !== '') {
    userPart = spec.runAsUsername;
    groupPart = undefined;
  }
  if (spec.runAsGroup !== undefined) groupPart = String(spec.runAsGroup);
  if (userPart === '') userPart = '0';
  if (groupPart === '') groupPart = undefined;
  for (const id of [spec.runAsUser, spec.runAsGroup, ...(spec.supplementalGroups ?? [])]) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id > maxId)) {
      return { ok: false, message: `invalid user or group id ${id}` };
    }
  }

  // Read the files only when something needs them, so a scratch image with numeric ids has no I/O fail.
  let passwd: PasswdEntry[] | undefined;
  const loadPasswd = async (): Promise<PasswdEntry[] | string> => {
    if (passwd !== undefined) return passwd;
    const r = await readFileInRoot(rootfsPath, '/etc/passwd');
    if (r.kind === 'error') return `cannot read /etc/passwd of the image: ${r.message}`;
    passwd = r.kind === 'ok' ? parsePasswd(r.text) : [];
    return passwd;
  };
  let groups: GroupEntry[] | undefined;
  const loadGroup = async (): Promise<GroupEntry[] | string> => {
    if (groups !== undefined) return groups;
    const r = await readFileInRoot(rootfsPath, '/etc/group');
    if (r.kind === 'error') return `cannot read /etc/group of the image: ${r.message}`;
    groups = r.kind === 'ok' ? parseGroup(r.text) : [];
    return groups;
  };

  const pw = await loadPasswd();
  if (typeof pw === 'string') return { ok: false, message: pw };
  const numericUid = parseId(userPart);
  const entry =
    numericUid !== undefined ? pw.find((e) => e.uid === numericUid) : pw.find((e) => e.name === userPart);
  if (numericUid === undefined && entry === undefined) {
    return { ok: false, message: `unable to find user ${userPart}: no matching entries in passwd file` };
  }
  const uid = numericUid ?? entry?.uid ?? 0;

  let gid = entry?.gid ?? 0;
  const grp = await loadGroup();
  if (typeof grp === 'string') return { ok: false, message: grp };
  if (groupPart !== undefined) {
    const numericGid = parseId(groupPart);
    if (numericGid !== undefined) gid = numericGid;
    else {
      const g = grp.find((e) => e.name === groupPart);
      if (g === undefined) {
        return { ok: false, message: `unable to find group ${groupPart}: no matching entries in group file` };
      }
      gid = g.gid;
    }
  }

  const additional = [gid];
  if (entry !== undefined) for (const g of grp) if (g.members.includes(entry.name)) additional.push(g.gid);
  additional.push(...(spec.supplementalGroups ?? []));
  const user: ResolvedUser = {
    uid,
    gid,
    additionalGids: [...new Set(additional)],
    ...(entry !== undefined && entry.home !== '' ? { home: entry.home } : {}),
  };
  return { ok: true, user };
}
