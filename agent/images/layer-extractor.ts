/**
 * Safe extraction of one layer tar into a fresh, private, empty directory — safe by construction,
 * because path handling in container runtimes is a recurring CVE class (runc, Docker, containerd,
 * node-tar, tar-fs; shared/reference/reliability-and-security.md §1c, §1e).
 *
 * tar-stream only parses. Every filesystem write is ours, and obeys these rules:
 * - Entry names are split on `/`; empty and `.` components are dropped; an absolute name, a `..`
 *   component, a NUL, an over-long component or path is refused (the whole layer fails).
 * - Before creating anything, every parent component is `lstat`ed inside the root; anything that is not
 *   a real directory (a symlink planted earlier in the same tar, a file) is refused, so nothing is ever
 *   written through a symlink. Missing parents are created 0755 (as containerd does).
 * - Files are created `O_CREAT|O_EXCL|O_NOFOLLOW` after removing what was there; metadata is applied
 *   through the open descriptor (`fchown`, `fchmod`, `futimes`), never by path.
 * - Hard links: the target name obeys the same rules, its parents must be real directories inside the
 *   root, and it must exist and not be a directory; `link(2)` does not follow a symlink target, and a
 *   hard link's metadata is never touched (HardlinkSymlinkChmod, CVE-2021-32760). A target from an
 *   earlier layer is copied from the lower layer dirs (read the same careful way).
 * - Directories get their mode/owner/times at the end (so a read-only dir can still be filled), through
 *   an `O_DIRECTORY|O_NOFOLLOW` descriptor after re-checking the parents; a directory replaced later
 *   in the tar loses its pending metadata.
 * - Whiteouts become overlayfs whiteouts: `.wh.<name>` → a 0/0 character device, `.wh..wh..opq` →
 *   `trusted.overlay.opaque=y` on the directory. Node has neither mknod nor setxattr, so they are made
 *   at the end of the layer by one GNU `tar -x` fed a tar of just those nodes (names already checked,
 *   parents re-checked right before); file xattrs go through `setfattr` with the paths as arguments. `.wh..`, `.wh...` and `.wh.` are
 *   refused (containerd's WhiteoutRoot/WhiteoutParent cases); a whiteout only hides lower layers, so
 *   an entry of the same layer at that path wins.
 * - Device nodes and FIFOs are skipped unless allowed; xattrs other than `user.*` and
 *   `security.capability` are dropped (a `trusted.overlay.*` from a tar would rewrite overlay
 *   semantics).
 * - Limits: uncompressed bytes, entry count, path length — decompression and inode bombs.
 *
 * Because each layer lands in its own new directory, nothing a malicious layer plants (a symlink to
 * /etc, say) exists when the next layer is extracted (GNU tar CVE-2025-45582's two-archive pattern);
 * the layers meet only inside the container's overlayfs mount.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  linkSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { extract as tarExtract, pack as tarPack, type Header } from 'tar-stream';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { CommandRunner } from '../../lib/command-runner.js';

export interface ExtractLimits {
  /** Uncompressed bytes of file content per layer. */
  readonly maxBytes: number;
  /** Entries per layer. */
  readonly maxEntries: number;
  /** Bytes in one entry name. */
  readonly maxPathLength: number;
}

export const defaultExtractLimits: ExtractLimits = {
  maxBytes: 64 * 1024 ** 3,
  maxEntries: 2_000_000,
  maxPathLength: 4096,
};

export interface ExtractOptions {
  /** A fresh, empty, private directory: the layer's root. */
  readonly root: string;
  readonly runner: CommandRunner;
  readonly limits?: Partial<ExtractLimits>;
  /** chown to the tar's uid/gid (needs root). Default: whether this process is root. */
  readonly preserveOwnership?: boolean;
  /** Create character/block devices and FIFOs (needs root). Default false: skipped and counted. */
  readonly allowDevices?: boolean;
  /** Lower layer roots, top first, for hard links to files of earlier layers; awaited only if needed. */
  readonly lowerDirs?: () => Promise<readonly string[]>;
}

export interface ExtractStats {
  entries: number;
  /** Bytes of file content written. */
  bytes: number;
  whiteouts: number;
  opaqueDirs: number;
  skippedDevices: number;
  droppedXattrs: number;
}

function rejected(message: string): BerthError {
  return new BerthError(errorCodes.IMAGE_LAYER_REJECTED, `layer rejected: ${message}`);
}

/**
 * Splits a tar name into safe components. Undefined for the root itself (`.`, `./`), throws for
 * names that are absolute, contain `..` or NUL, or are too long.
 */
export function safeComponents(name: string, maxPathLength: number, what = 'entry'): string[] {
  if (name.includes('\0')) throw rejected(`${what} name contains NUL`);
  if (Buffer.byteLength(name) > maxPathLength)
    throw rejected(`${what} name longer than ${maxPathLength} bytes`);
  if (name.startsWith('/')) throw rejected(`absolute ${what} name ${JSON.stringify(name)}`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw rejected(`${what} name ${JSON.stringify(name)} contains ".."`);
    if (Buffer.byteLength(c) > 255) throw rejected(`${what} name component longer than 255 bytes`);
    out.push(c);
  }
  return out;
}

/**
 * A header as hostile input: tar-stream's type promises every field, but a crafted archive can leave
 * type, linkname and the numbers unset, so every field is treated as optional.
 */
type RawHeader = Partial<Header> & { readonly name: string };

const whiteoutPrefix = '.wh.';
const opaqueMarker = '.wh..wh..opq';

function keepXattr(name: string): boolean {
  return name.startsWith('user.') || name === 'security.capability';
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

type BatchOp =
  | { kind: 'whiteout'; rel: string }
  | { kind: 'opaque'; rel: string }
  | { kind: 'xattr'; rel: string; name: string; hex: string }
  | {
      kind: 'device';
      rel: string;
      type: 'c' | 'b' | 'p';
      major: number;
      minor: number;
      mode: number;
      uid: number;
      gid: number;
    };

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** One layer being extracted; see the module comment for the rules. */
class Extraction {
  readonly #root: string;
  readonly #limits: ExtractLimits;
  readonly #chown: boolean;
  readonly #allowDevices: boolean;
  readonly #runner: CommandRunner;
  readonly #lowerDirs: (() => Promise<readonly string[]>) | undefined;
  readonly #ownUid = process.getuid?.() ?? 0;
  readonly #ownGid = process.getgid?.() ?? 0;
  /** Relative paths known to be real directories created or checked in this layer. */
  readonly #dirs = new Set<string>(['']);
  readonly #dirMeta = new Map<string, DirMeta>();
  readonly #batch = new Map<string, BatchOp[]>();
  readonly #pendingLinks: { rel: string; target: string }[] = [];
  readonly stats: ExtractStats = {
    entries: 0,
    bytes: 0,
    whiteouts: 0,
    opaqueDirs: 0,
    skippedDevices: 0,
    droppedXattrs: 0,
  };

  constructor(opts: ExtractOptions) {
    this.#root = opts.root;
    this.#limits = { ...defaultExtractLimits, ...opts.limits };
    this.#chown = opts.preserveOwnership ?? process.getuid?.() === 0;
    this.#allowDevices = opts.allowDevices ?? false;
    this.#runner = opts.runner;
    this.#lowerDirs = opts.lowerDirs;
  }

  #abs(rel: string): string {
    return rel === '' ? this.#root : join(this.#root, rel);
  }

  /** Makes every component of `parts` a real directory inside the root, creating missing ones. */
  #ensureDirs(parts: readonly string[]): void {
    let rel = '';
    for (const part of parts) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (this.#dirs.has(rel)) continue;
      const st = lstatOrUndefined(this.#abs(rel));
      if (st === undefined) {
        mkdirSync(this.#abs(rel), 0o755);
      } else if (!st.isDirectory()) {
        throw rejected(
          `"${rel}" is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; refusing to write through it`,
        );
      }
      this.#dirs.add(rel);
    }
  }

  /** Re-checks, without creating, that every component of `rel`'s parent is a real directory. */
  #parentsAreDirs(rel: string): boolean {
    const parts = rel.split('/');
    parts.pop();
    let cur = '';
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`;
      const st = lstatOrUndefined(this.#abs(cur));
      if (st === undefined || !st.isDirectory()) return false;
    }
    return true;
  }

  /** Forgets everything recorded at or below `rel` (it is being replaced). */
  #forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const d of this.#dirs) if (d === rel || d.startsWith(prefix)) this.#dirs.delete(d);
    for (const d of this.#dirMeta.keys()) if (d === rel || d.startsWith(prefix)) this.#dirMeta.delete(d);
    for (const d of this.#batch.keys()) {
      if (d === rel || d.startsWith(prefix)) {
        // A whiteout at this path stays: it hides lower layers; the new entry decides what is seen.
        const keep = (this.#batch.get(d) ?? []).filter((op) => op.kind === 'whiteout' && d === rel);
        if (keep.length === 0) this.#batch.delete(d);
        else this.#batch.set(d, keep);
      }
    }
  }

  /** Clears the path for a new entry; keeps an existing directory when the new entry is one. */
  #clear(rel: string, newIsDir: boolean): void {
    const abs = this.#abs(rel);
    const st = lstatOrUndefined(abs);
    if (st === undefined) return;
    if (st.isDirectory()) {
      if (newIsDir) return;
      rmSync(abs, { recursive: true, force: true });
    } else {
      unlinkSync(abs);
    }
    this.#forget(rel);
  }

  #addOp(rel: string, op: BatchOp): void {
    const ops = this.#batch.get(rel);
    if (ops === undefined) this.#batch.set(rel, [op]);
    else ops.push(op);
  }

  async entry(header: RawHeader, body: EntryBody): Promise<void> {
    const stats = this.stats;
    stats.entries++;
    if (stats.entries > this.#limits.maxEntries)
      throw rejected(`more than ${this.#limits.maxEntries} entries`);
    const type = header.type ?? 'file';
    const parts = safeComponents(header.name, this.#limits.maxPathLength);
    const rel = parts.join('/');
    const base = parts[parts.length - 1];
    const parents = parts.slice(0, -1);

    if (base === undefined) {
      if (type !== 'directory') throw rejected(`the root entry is a ${type}, not a directory`);
      this.#dirMeta.set('', this.#meta(header));
      return drain(body);
    }

    if (base.startsWith(whiteoutPrefix)) {
      if (base === opaqueMarker) {
        this.#ensureDirs(parents);
        this.#addOp(parents.join('/'), { kind: 'opaque', rel: parents.join('/') });
        stats.opaqueDirs++;
        return drain(body);
      }
      if (base.startsWith(`${whiteoutPrefix}${whiteoutPrefix}`)) return drain(body); // aufs metadata
      const hidden = base.slice(whiteoutPrefix.length);
      if (hidden === '' || hidden === '.' || hidden === '..') {
        throw rejected(`invalid whiteout ${JSON.stringify(header.name)}`);
      }
      this.#ensureDirs(parents);
      const target = [...parents, hidden].join('/');
      this.#addOp(target, { kind: 'whiteout', rel: target });
      stats.whiteouts++;
      return drain(body);
    }

    switch (type) {
      case 'directory': {
        this.#ensureDirs(parents);
        this.#clear(rel, true);
        if (lstatOrUndefined(this.#abs(rel)) === undefined) mkdirSync(this.#abs(rel), 0o700);
        this.#dirs.add(rel);
        this.#dirMeta.set(rel, this.#meta(header));
        return drain(body);
      }
      case 'file':
      case 'contiguous-file':
        return this.#file(rel, parents, header, body);
      case 'symlink': {
        const target = header.linkname ?? '';
        if (target === '' || target.includes('\0'))
          throw rejected(`symlink ${JSON.stringify(rel)} has no valid target`);
        this.#ensureDirs(parents);
        this.#clear(rel, false);
        // The target is only ever interpreted inside the container's mount namespace; it is never followed here.
        symlinkSync(target, this.#abs(rel));
        if (this.#chown) lchownSync(this.#abs(rel), header.uid ?? 0, header.gid ?? 0);
        const mtime = header.mtime ?? new Date(0);
        lutimesSync(this.#abs(rel), mtime, mtime);
        return drain(body);
      }
      case 'link':
        this.#hardlink(rel, parents, header.linkname ?? '');
        return drain(body);
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (!this.#allowDevices) {
          stats.skippedDevices++;
          return drain(body);
        }
        this.#ensureDirs(parents);
        this.#clear(rel, false);
        this.#addOp(rel, {
          kind: 'device',
          rel,
          type: type === 'fifo' ? 'p' : type === 'block-device' ? 'b' : 'c',
          major: header.devmajor ?? 0,
          minor: header.devminor ?? 0,
          mode: (header.mode ?? 0o600) & 0o7777,
          uid: header.uid ?? 0,
          gid: header.gid ?? 0,
        });
        return drain(body);
      }
      default:
        // pax/GNU long headers are consumed by the parser; anything else is not a file type we create.
        return drain(body);
    }
  }

  #meta(header: RawHeader): DirMeta {
    return {
      mode: (header.mode ?? 0o755) & 0o7777,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      mtime: header.mtime ?? new Date(0),
    };
  }

  async #file(rel: string, parents: readonly string[], header: RawHeader, body: EntryBody): Promise<void> {
    const size = header.size ?? 0;
    if (this.stats.bytes + size > this.#limits.maxBytes) {
      throw rejected(`more than ${this.#limits.maxBytes} bytes of file content`);
    }
    this.#ensureDirs(parents);
    const fd = this.#create(rel);
    try {
      let written = 0;
      for await (const chunk of body) {
        written += chunk.byteLength;
        if (written > size) throw rejected(`entry ${JSON.stringify(rel)} is longer than its header says`);
        let off = 0;
        while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
      }
      this.stats.bytes += written;
      // chown before chmod: chown clears set-id bits. Files we create are already ours (root:root).
      const uid = header.uid ?? 0;
      const gid = header.gid ?? 0;
      if (this.#chown && (uid !== this.#ownUid || gid !== this.#ownGid)) fchownSync(fd, uid, gid);
      fchmodSync(fd, (header.mode ?? 0o644) & 0o7777);
      const mtime = header.mtime ?? new Date(0);
      futimesSync(fd, mtime, mtime);
    } finally {
      closeSync(fd);
    }
    this.#xattrs(rel, header);
  }

  /**
   * Creates a regular file for writing: `O_EXCL` first (one syscall in the common case), and only if
   * something is in the way, clear it and try again. `O_NOFOLLOW` so a symlink there is never opened.
   */
  #create(rel: string): number {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    try {
      return openSync(this.#abs(rel), flags, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ELOOP' && code !== 'EISDIR') throw err;
    }
    this.#clear(rel, false);
    return openSync(this.#abs(rel), flags, 0o600);
  }

  #xattrs(rel: string, header: RawHeader): void {
    const pax = header.pax;
    if (typeof pax !== 'object' || pax === null) return;
    for (const [key, value] of Object.entries(pax as Record<string, unknown>)) {
      if (!key.startsWith('SCHILY.xattr.') || typeof value !== 'string') continue;
      const name = key.slice('SCHILY.xattr.'.length);
      // tar-stream decodes PAX records as UTF-8; a binary value that did not survive that is dropped, not mangled.
      if (!keepXattr(name) || value.includes('\uFFFD')) {
        this.stats.droppedXattrs++;
        continue;
      }
      this.#addOp(rel, { kind: 'xattr', rel, name, hex: `0x${Buffer.from(value, 'utf8').toString('hex')}` });
    }
  }

  #hardlink(rel: string, parents: readonly string[], linkname: string): void {
    const targetParts = safeComponents(linkname, this.#limits.maxPathLength, 'hard link target');
    if (targetParts.length === 0) throw rejected(`hard link ${JSON.stringify(rel)} points at the root`);
    const target = targetParts.join('/');
    if (target === rel) return;
    if (!this.#parentsAreDirs(target)) {
      // Missing here (an earlier layer's file) or reached through a symlink: try the lower layers at the end.
      const st = this.#lowerCandidateReason(target);
      if (st !== undefined)
        throw rejected(`hard link ${JSON.stringify(rel)} → ${JSON.stringify(linkname)}: ${st}`);
      this.#ensureDirs(parents);
      this.#clear(rel, false);
      this.#pendingLinks.push({ rel, target });
      return;
    }
    const st = lstatOrUndefined(this.#abs(target));
    if (st?.isDirectory() === true) throw rejected(`hard link ${JSON.stringify(rel)} points at a directory`);
    this.#ensureDirs(parents);
    this.#clear(rel, false);
    if (st === undefined) {
      this.#pendingLinks.push({ rel, target });
      return;
    }
    // link(2) does not follow a symlink target: a link to a symlink is another name for the symlink.
    linkSync(this.#abs(target), this.#abs(rel));
  }

  /** Why a hard link target whose parents are not all directories here must be refused, if it must. */
  #lowerCandidateReason(target: string): string | undefined {
    const parts = target.split('/');
    parts.pop();
    let cur = '';
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`;
      const st = lstatOrUndefined(this.#abs(cur));
      if (st === undefined) return undefined; // not in this layer: look below
      if (!st.isDirectory()) return `"${cur}" is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`;
    }
    return undefined;
  }

  /** Hard links to files of earlier layers: copy the file from the top-most lower layer that has it. */
  async #resolvePendingLinks(): Promise<void> {
    if (this.#pendingLinks.length === 0) return;
    const lowers = this.#lowerDirs === undefined ? [] : await this.#lowerDirs();
    for (const { rel, target } of this.#pendingLinks) {
      if (!this.#parentsAreDirs(rel)) continue;
      let copied = false;
      for (const lower of lowers) {
        if (copyRegularFile(lower, target, this.#abs(rel))) {
          copied = true;
          break;
        }
      }
      if (!copied)
        throw rejected(`hard link ${JSON.stringify(rel)}: target ${JSON.stringify(target)} not found`);
    }
  }

  /** Whiteouts, opaque dirs, xattrs and devices, through one `sh` per batch of up to 500 operations. */
  async #runBatch(): Promise<void> {
    // Whiteouts, opaque markers and device nodes go through one `tar -x` (GNU tar creates 0/0 devices
    // and sets trusted.* xattrs as root, in one process for any number of them; `mknod` per whiteout
    // cost ~3 ms each). File xattrs need the file's content, so they go through `setfattr`.
    const nodes: TarNode[] = [];
    const setfattr: string[] = [];
    for (const [rel, ops] of this.#batch) {
      if (!this.#parentsAreDirs(rel)) continue;
      const st = lstatOrUndefined(this.#abs(rel));
      for (const op of ops) {
        switch (op.kind) {
          case 'whiteout':
            // An entry of this same layer at the path wins over the whiteout.
            if (st === undefined)
              nodes.push({ name: op.rel, type: 'character-device', devmajor: 0, devminor: 0, mode: 0 });
            break;
          case 'opaque':
            if (st?.isDirectory() === true) {
              nodes.push({
                name: op.rel === '' ? '.' : op.rel,
                type: 'directory',
                mode: st.mode & 0o7777,
                pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' },
              });
            }
            break;
          case 'xattr':
            if (st?.isFile() === true || st?.isDirectory() === true)
              setfattr.push(op.name, op.hex, this.#abs(op.rel));
            break;
          case 'device':
            if (st === undefined) {
              nodes.push({
                name: op.rel,
                type: op.type === 'p' ? 'fifo' : op.type === 'b' ? 'block-device' : 'character-device',
                devmajor: op.major,
                devminor: op.minor,
                mode: op.mode,
                uid: this.#chown ? op.uid : this.#ownUid,
                gid: this.#chown ? op.gid : this.#ownGid,
              });
            }
            break;
        }
      }
    }
    if (nodes.length > 0) {
      const r = await this.#runner.run(
        'tar',
        [
          '-x',
          '-f',
          '-',
          '-C',
          this.#root,
          '--numeric-owner',
          '--xattrs',
          '--xattrs-include=trusted.overlay.opaque',
        ],
        { input: await packNodes(nodes) },
      );
      if (r.code !== 0) {
        throw new BerthError(
          errorCodes.IMAGE_STORE,
          `creating overlay whiteouts (GNU tar as root): ${r.stderr.trim() || `exit ${String(r.code)}`}`,
        );
      }
    }
    for (let i = 0; i < setfattr.length; i += 3 * 500) {
      const r = await this.#runner.run('/bin/sh', [
        '-c',
        'while [ $# -gt 0 ]; do setfattr -n "$1" -v "$2" -- "$3" || exit 1; shift 3; done',
        'berth-xattrs',
        ...setfattr.slice(i, i + 3 * 500),
      ]);
      if (r.code !== 0) {
        throw new BerthError(
          errorCodes.IMAGE_STORE,
          `setting xattrs (setfattr): ${r.stderr.trim() || `exit ${String(r.code)}`}`,
        );
      }
    }
  }

  /** Directory metadata, deepest first, through a descriptor that cannot follow a symlink. */
  #applyDirMeta(): void {
    const entries = [...this.#dirMeta.entries()].sort(
      (a, b) => b[0].split('/').length - a[0].split('/').length,
    );
    for (const [rel, meta] of entries) {
      if (rel !== '' && !this.#parentsAreDirs(rel)) continue;
      let fd: number;
      try {
        fd = openSync(this.#abs(rel), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') continue;
        throw err;
      }
      try {
        if (this.#chown) fchownSync(fd, meta.uid, meta.gid);
        fchmodSync(fd, meta.mode);
        futimesSync(fd, meta.mtime, meta.mtime);
      } finally {
        closeSync(fd);
      }
    }
  }

  async finish(): Promise<void> {
    await this.#resolvePendingLinks();
    await this.#runBatch();
    this.#applyDirMeta();
  }
}

/** A node the batch `tar` creates. */
interface TarNode {
  readonly name: string;
  readonly type: 'character-device' | 'block-device' | 'fifo' | 'directory';
  readonly mode: number;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly pax?: Record<string, string>;
}

/** A tar of `nodes` (no file content), for the batch `tar -x`. */
async function packNodes(nodes: readonly TarNode[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const n of nodes) p.entry({ ...n, mtime: new Date(0) });
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** Copies `rel` from `lowerRoot` to `dest` if every component is safe and it is a regular file. */
function copyRegularFile(lowerRoot: string, rel: string, dest: string): boolean {
  const parts = rel.split('/');
  let cur = lowerRoot;
  for (const [i, part] of parts.entries()) {
    cur = join(cur, part);
    const st = lstatOrUndefined(cur);
    if (st === undefined) return false;
    if (i < parts.length - 1 ? !st.isDirectory() : !st.isFile()) return false;
  }
  const src = openSync(cur, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(src);
    if (!st.isFile()) return false;
    const out = openSync(
      dest,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      const buf = Buffer.allocUnsafe(1024 * 1024);
      for (;;) {
        const n = readSync(src, buf, 0, buf.length, null);
        if (n === 0) break;
        let off = 0;
        while (off < n) off += writeSync(out, buf, off, n - off);
      }
      if (process.getuid?.() === 0) fchownSync(out, st.uid, st.gid);
      fchmodSync(out, st.mode & 0o7777);
      futimesSync(out, st.atime, st.mtime);
    } finally {
      closeSync(out);
    }
  } finally {
    closeSync(src);
  }
  return true;
}

/** Resolves when a writable wants more, or is gone. */
function drained(w: NodeJS.EventEmitter): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

/** An entry's content as tar-stream hands it over. */
type EntryBody = AsyncIterable<Uint8Array>;

async function drain(body: EntryBody): Promise<void> {
  for await (const _ of body) {
    // discard
  }
}

/**
 * Extracts the tar stream `tar` (uncompressed bytes) into `opts.root`. Resolves with statistics once
 * every entry, whiteout and directory attribute is in place; rejects with `IMAGE_LAYER_REJECTED` for
 * unsafe or over-limit content. The caller owns `opts.root` and removes it on failure.
 */
export async function extractLayer(
  tar: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  opts: ExtractOptions,
): Promise<ExtractStats> {
  const x = new Extraction(opts);
  const ex = tarExtract();
  const feed = (async () => {
    try {
      for await (const chunk of tar) {
        if (ex.destroyed) return;
        if (!ex.write(chunk)) await drained(ex);
      }
      if (!ex.destroyed) ex.end(undefined);
    } catch (err) {
      ex.destroy(err as Error);
    }
  })();
  try {
    for await (const entry of ex) await x.entry(entry.header, entry as EntryBody);
  } catch (err) {
    ex.destroy(err instanceof Error ? err : new Error(String(err)));
    await feed;
    if (err instanceof BerthError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (
      typeof code === 'string' &&
      (code.startsWith('Z_') || code.startsWith('ERR_ZLIB') || code.includes('ZSTD'))
    ) {
      throw new BerthError(errorCodes.IMAGE_INVALID, `layer does not decompress: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EIO' || code === 'EROFS') {
      throw new BerthError(errorCodes.IMAGE_STORE, `extracting layer: ${(err as Error).message}`, {
        cause: err,
      });
    }
    throw new BerthError(errorCodes.IMAGE_LAYER_REJECTED, `layer rejected: ${(err as Error).message}`, {
      cause: err,
    });
  }
  await feed;
  await x.finish();
  return x.stats;
}
