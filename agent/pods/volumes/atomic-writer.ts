/**
 * The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go): publishes a set of files into a
 * volume directory so that a reader never sees half an update. Layout of a written volume:
 *
 *     <dir>/..2026_11_27_23_58_01.123456789/   0755  this version's files (named after the write time)
 *     <dir>/..data -> ..2026_11_27_23_58_01.123456789
 *     <dir>/<key>  -> ..data/<key>              one symlink per top-level path of the payload
 *
 * A write makes a new timestamped directory with every file, then swaps `..data` with one rename of
 * a fresh symlink (atomic), adds the user-visible symlinks that are new, removes the ones no longer
 * in the payload, and deletes the old directory. A reader that resolved `..data` before the swap
 * keeps reading the old, complete version. An unchanged payload (same bytes, same modes) writes
 * nothing. Not safe for two concurrent writers on one directory: the volume manager serialises.
 */
import { randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';

/** One file of a payload: its bytes and permission bits (e.g. 0o644). */
export interface PayloadFile {
  readonly data: Uint8Array;
  readonly mode: number;
}

/** Relative path (`key`, `dir/key`) → file. */
export type Payload = ReadonlyMap<string, PayloadFile>;

const dataDirName = '..data';
const tmpDataName = '..data_tmp';

/**
 * The reason a payload path is unusable, or undefined if it is fine: relative, no `..` element, no
 * element starting with `..` (reserved for the writer's own entries), not empty.
 */
export function invalidPayloadPath(path: string): string | undefined {
  if (path === '') return 'must not be empty';
  if (path.startsWith('/')) return 'must be a relative path';
  const parts = path.split('/');
  if (parts.some((p) => p === '..')) return "must not contain '..'";
  if (parts[0]?.startsWith('..') === true) return "must not start with '..'";
  if (parts.some((p) => p === '')) return 'must not contain empty path elements';
  return undefined;
}

/**
 * Publishes `payload` into `dir` (which must exist). Returns whether anything changed. Throws on a
 * bad path (before touching the directory) and on I/O errors (the previous version stays intact:
 * `..data` is only swapped once the new directory is complete).
 */
export async function writePayloadAtomically(dir: string, payload: Payload, now: number): Promise<boolean> {
  for (const p of payload.keys()) {
    const why = invalidPayloadPath(p);
    if (why !== undefined) throw new Error(`invalid path "${p}": ${why}`);
  }
  const oldTsName = await readlinkOrUndefined(join(dir, dataDirName));
  if (oldTsName !== undefined && (await sameContent(join(dir, oldTsName), payload))) {
    await linkVisiblePaths(dir, payload);
    return false;
  }

  const tsName = `..${timestampName(now)}.${randomBytes(5).toString('hex')}`;
  const tsDir = join(dir, tsName);
  await mkdir(tsDir, { mode: 0o755 });
  try {
    await chmod(tsDir, 0o755);
    for (const [path, file] of payload) {
      const target = join(tsDir, path);
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      await writeFile(target, file.data, { mode: file.mode });
      await chmod(target, file.mode); // umask must not apply
    }
    const tmpLink = join(dir, tmpDataName);
    await rm(tmpLink, { force: true });
    await symlink(tsName, tmpLink);
    await rename(tmpLink, join(dir, dataDirName));
  } catch (err) {
    await rm(tsDir, { recursive: true, force: true });
    throw err;
  }

  await linkVisiblePaths(dir, payload);
  const visible = topLevel(payload);
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') || visible.has(entry)) continue;
    await rm(join(dir, entry), { force: true, recursive: true });
  }
  // Older timestamped directories: the previous one, and any a crash left behind.
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') && entry !== tsName && entry !== dataDirName && entry !== tmpDataName)
      await rm(join(dir, entry), { recursive: true, force: true });
  }
  return true;
}

/** The files as a reader sees them now (resolved through `..data`), for tests and checks. */
export async function readPublished(dir: string): Promise<Map<string, PayloadFile>> {
  const out = new Map<string, PayloadFile>();
  const ts = await readlinkOrUndefined(join(dir, dataDirName));
  if (ts === undefined) return out;
  await walk(join(dir, ts), '', out);
  return out;
}

function timestampName(now: number): string {
  const d = new Date(now);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}_${two(d.getUTCMonth() + 1)}_${two(d.getUTCDate())}_${two(d.getUTCHours())}_${two(
    d.getUTCMinutes(),
  )}_${two(d.getUTCSeconds())}`;
}

function topLevel(payload: Payload): Set<string> {
  return new Set([...payload.keys()].map((p) => p.split('/')[0] ?? p));
}

async function linkVisiblePaths(dir: string, payload: Payload): Promise<void> {
  for (const name of topLevel(payload)) {
    const link = join(dir, name);
    const want = posix.join(dataDirName, name);
    const existing = await readlinkOrUndefined(link);
    if (existing === want) continue;
    await rm(link, { force: true, recursive: true });
    await symlink(want, link);
  }
}

async function sameContent(tsDir: string, payload: Payload): Promise<boolean> {
  const current = new Map<string, PayloadFile>();
  try {
    await walk(tsDir, '', current);
  } catch {
    return false;
  }
  if (current.size !== payload.size) return false;
  for (const [path, file] of payload) {
    const have = current.get(path);
    if (have === undefined || have.mode !== file.mode || Buffer.compare(have.data, file.data) !== 0)
      return false;
  }
  return true;
}

async function walk(root: string, rel: string, out: Map<string, PayloadFile>): Promise<void> {
  for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) await walk(root, path, out);
    else if (entry.isFile()) {
      const full = join(root, path);
      const [data, st] = await Promise.all([readFile(full), stat(full)]);
      out.set(path, { data, mode: st.mode & 0o7777 });
    }
  }
}

async function readlinkOrUndefined(path: string): Promise<string | undefined> {
  try {
    const st = await lstat(path);
    if (!st.isSymbolicLink()) return undefined;
    return await readlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
