/**
 * The image service's metadata: images (by resolved digest), the references that name them, layer
 * snapshots (by chain ID, each with a short numeric directory id), and rootfs leases (container →
 * image). SQLite (better-sqlite3, WAL) because two processes use it at once — the agent and a
 * `berth image …` command on the same data dir — and because a crash must leave it consistent.
 *
 * Snapshot rows move `committing` → `committed`: the row (and its id) is written before the extracted
 * directory is renamed to that id, and marked committed after. On open, a `committing` row whose
 * directory exists is complete (extraction finished before the rename) and is marked committed; one
 * without a directory is dropped once it is old. Ids come from a counter and are never reused.
 */
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { BerthError, errorCodes } from '../../lib/errors.js';
import { parseDigest } from './digest.js';
import { normalizeReference, parseImageReference, repositoryName } from './image-reference.js';
import type { ImageRecord } from './image-service.js';

/** One layer of a stored image. */
export interface LayerRecord {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly diffId: string;
  readonly chainId: string;
}

/** The image config fields kept beside the record (what `inspect` shows). */
type RecordConfig = ImageRecord['config'];

export interface StoredImageConfig extends RecordConfig {
  readonly labels?: Readonly<Record<string, string>>;
  readonly exposedPorts?: readonly string[];
  readonly volumes?: readonly string[];
  readonly stopSignal?: string;
  readonly created?: string;
}

export interface StoredImage {
  /** The digest the reference resolved to (an index's, or the manifest's). */
  readonly digest: string;
  /** The platform manifest's digest (equal to `digest` for single-platform images). */
  readonly manifestDigest: string;
  readonly mediaType: string;
  readonly configDigest: string;
  /** `os/arch[/variant]` of the manifest chosen. */
  readonly platform: string;
  readonly layers: readonly LayerRecord[];
  readonly config: StoredImageConfig;
  /** Uncompressed bytes of the layers. */
  readonly size: number;
  readonly createdAt: number;
  readonly lastUsedAt: number;
  readonly references: readonly string[];
}

export interface SnapshotRow {
  readonly chainId: string;
  readonly id: number;
  readonly parent: string | undefined;
  readonly diffId: string;
  /** Bytes of file content in the layer directory. */
  readonly size: number;
  readonly state: 'committing' | 'committed';
  readonly createdAt: number;
  /** False until a filesystem sync after the commit has completed. */
  readonly synced: boolean;
  /** The kernel boot id when it was committed: an unsynced row from another boot may have lost data. */
  readonly bootId: string;
}

export interface RootfsRow {
  readonly containerId: string;
  readonly imageDigest: string;
  readonly createdAt: number;
}

interface ImageRow {
  digest: string;
  manifest_digest: string;
  media_type: string;
  config_digest: string;
  platform: string;
  size: number;
  body: string;
  created_at: number;
  last_used_at: number;
}

interface SnapshotDbRow {
  chain_id: string;
  id: number;
  parent: string | null;
  diff_id: string;
  size: number;
  state: string;
  created_at: number;
  synced: number;
  boot_id: string;
}

const schema = `
CREATE TABLE IF NOT EXISTS images (
  digest TEXT PRIMARY KEY,
  manifest_digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  config_digest TEXT NOT NULL,
  platform TEXT NOT NULL,
  size INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS images_config ON images(config_digest);
CREATE TABLE IF NOT EXISTS refs (ref TEXT PRIMARY KEY, digest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS refs_digest ON refs(digest);
CREATE TABLE IF NOT EXISTS snapshots (
  chain_id TEXT PRIMARY KEY,
  id INTEGER NOT NULL UNIQUE,
  parent TEXT,
  diff_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  synced INTEGER NOT NULL DEFAULT 1,
  boot_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS rootfs (
  container_id TEXT PRIMARY KEY,
  image_digest TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

export class ImageDb {
  readonly #db: Db;

  private constructor(db: Db) {
    this.#db = db;
  }

  /** Opens (creating) the database at `path`. */
  static open(path: string): ImageDb {
    let db: Db;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 10000');
      db.exec(schema);
    } catch (err) {
      throw new BerthError(errorCodes.IMAGE_STORE, `image metadata ${path}: cannot open`, { cause: err });
    }
    return new ImageDb(db);
  }

  close(): void {
    this.#db.close();
  }

  #refsOf(digest: string): string[] {
    const rows = this.#db.prepare('SELECT ref FROM refs WHERE digest = ? ORDER BY ref').all(digest) as {
      ref: string;
    }[];
    return rows.map((r) => r.ref);
  }

  #toImage(row: ImageRow): StoredImage {
    const body = JSON.parse(row.body) as { layers: LayerRecord[]; config: StoredImageConfig };
    return {
      digest: row.digest,
      manifestDigest: row.manifest_digest,
      mediaType: row.media_type,
      configDigest: row.config_digest,
      platform: row.platform,
      layers: body.layers,
      config: body.config,
      size: row.size,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
      references: this.#refsOf(row.digest),
    };
  }

  /** Records an image and points `ref` (if given) at it; a tag that named another image moves. */
  putImage(
    img: Omit<StoredImage, 'references' | 'createdAt' | 'lastUsedAt'>,
    ref: string | undefined,
    now: number,
  ): void {
    const tx = this.#db.transaction(() => {
      const existing = this.#db.prepare('SELECT created_at FROM images WHERE digest = ?').get(img.digest) as
        { created_at: number } | undefined;
      this.#db
        .prepare(
          `INSERT INTO images (digest, manifest_digest, media_type, config_digest, platform, size, body, created_at, last_used_at)
           VALUES (@digest, @manifest_digest, @media_type, @config_digest, @platform, @size, @body, @created_at, @last_used_at)
           ON CONFLICT(digest) DO UPDATE SET manifest_digest = excluded.manifest_digest, media_type = excluded.media_type,
             config_digest = excluded.config_digest, platform = excluded.platform, size = excluded.size,
             body = excluded.body, last_used_at = excluded.last_used_at`,
        )
        .run({
          digest: img.digest,
          manifest_digest: img.manifestDigest,
          media_type: img.mediaType,
          config_digest: img.configDigest,
          platform: img.platform,
          size: img.size,
          body: JSON.stringify({ layers: img.layers, config: img.config }),
          created_at: existing?.created_at ?? now,
          last_used_at: now,
        });
      if (ref !== undefined) {
        this.#db
          .prepare(
            'INSERT INTO refs (ref, digest) VALUES (?, ?) ON CONFLICT(ref) DO UPDATE SET digest = excluded.digest',
          )
          .run(ref, img.digest);
      }
    });
    tx.immediate();
  }

  getImage(digest: string): StoredImage | undefined {
    const row = this.#db.prepare('SELECT * FROM images WHERE digest = ?').get(digest) as ImageRow | undefined;
    return row === undefined ? undefined : this.#toImage(row);
  }

  /**
   * The image `query` names: a reference (normalised; `repo@digest` also matches by digest), a
   * digest (resolved, manifest or config), or an image-id prefix of at least 12 hex characters.
   */
  findImage(query: string): StoredImage | undefined {
    const q = query.trim();
    if (parseDigest(q) !== undefined) {
      const row = this.#db
        .prepare('SELECT * FROM images WHERE digest = ? OR manifest_digest = ? OR config_digest = ? LIMIT 1')
        .get(q, q, q) as ImageRow | undefined;
      return row === undefined ? undefined : this.#toImage(row);
    }
    if (/^(sha256:)?[0-9a-f]{12,64}$/.test(q)) {
      const hex = q.replace(/^sha256:/, '');
      const rows = this.#db
        .prepare("SELECT * FROM images WHERE config_digest LIKE ? || '%' LIMIT 2")
        .all(`sha256:${hex}`) as ImageRow[];
      if (rows.length === 1 && rows[0] !== undefined) return this.#toImage(rows[0]);
    }
    const parsed = parseImageReference(q);
    if (!parsed.ok) return undefined;
    const ref = normalizeReference(q);
    if (ref !== undefined) {
      const hit = this.#db.prepare('SELECT digest FROM refs WHERE ref = ?').get(ref) as
        { digest: string } | undefined;
      if (hit !== undefined) return this.getImage(hit.digest);
    }
    const d = parsed.ref.digest;
    if (d !== undefined) {
      // `repo@digest`: any image of that repository with that digest.
      const repo = repositoryName(parsed.ref);
      const img = this.findImage(d);
      if (
        img !== undefined &&
        img.references.some((r) => r.startsWith(`${repo}:`) || r.startsWith(`${repo}@`))
      ) {
        return img;
      }
    }
    return undefined;
  }

  listImages(): StoredImage[] {
    const rows = this.#db.prepare('SELECT * FROM images ORDER BY created_at, digest').all() as ImageRow[];
    return rows.map((r) => this.#toImage(r));
  }

  /** Removes one reference; true when it existed. */
  removeRef(ref: string): boolean {
    return this.#db.prepare('DELETE FROM refs WHERE ref = ?').run(ref).changes > 0;
  }

  /** Removes an image and every reference to it. */
  deleteImage(digest: string): boolean {
    const tx = this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM refs WHERE digest = ?').run(digest);
      return this.#db.prepare('DELETE FROM images WHERE digest = ?').run(digest).changes > 0;
    });
    return tx.immediate();
  }

  /** Records that the image was used now (for least-recently-used GC). */
  touch(digest: string, now: number): void {
    this.#db.prepare('UPDATE images SET last_used_at = ? WHERE digest = ?').run(now, digest);
  }

  getSnapshot(chainId: string): SnapshotRow | undefined {
    const row = this.#db.prepare('SELECT * FROM snapshots WHERE chain_id = ?').get(chainId) as
      SnapshotDbRow | undefined;
    return row === undefined ? undefined : toSnapshot(row);
  }

  listSnapshots(): SnapshotRow[] {
    return (this.#db.prepare('SELECT * FROM snapshots ORDER BY id').all() as SnapshotDbRow[]).map(toSnapshot);
  }

  /**
   * Reserves a directory id for a chain about to be committed. Returns the existing row instead when
   * the chain is already committed (someone else finished first).
   */
  reserveSnapshot(
    s: { chainId: string; parent: string | undefined; diffId: string; size: number },
    now: number,
    durability: { synced: boolean; bootId: string } = { synced: true, bootId: '' },
  ): { reserved: true; id: number } | { reserved: false; existing: SnapshotRow } {
    const tx = this.#db.transaction(() => {
      const existing = this.getSnapshot(s.chainId);
      if (existing?.state === 'committed') return { reserved: false as const, existing };
      if (existing !== undefined) this.#db.prepare('DELETE FROM snapshots WHERE chain_id = ?').run(s.chainId);
      const id = this.#next('snapshot');
      this.#db
        .prepare(
          "INSERT INTO snapshots (chain_id, id, parent, diff_id, size, state, created_at, synced, boot_id) VALUES (?, ?, ?, ?, ?, 'committing', ?, ?, ?)",
        )
        .run(
          s.chainId,
          id,
          s.parent ?? null,
          s.diffId,
          s.size,
          now,
          durability.synced ? 1 : 0,
          durability.bootId,
        );
      return { reserved: true as const, id };
    });
    return tx.immediate();
  }

  #next(name: string): number {
    const row = this.#db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as
      { value: number } | undefined;
    const value = (row?.value ?? 0) + 1;
    this.#db
      .prepare(
        'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
      )
      .run(name, value);
    return value;
  }

  /** The highest snapshot id handed out so far (0 when none). */
  lastSnapshotId(): number {
    const row = this.#db.prepare("SELECT value FROM counters WHERE name = 'snapshot'").get() as
      { value: number } | undefined;
    return row?.value ?? 0;
  }

  /** Marks committed snapshots up to `maxId` of this boot as synced to disk. */
  markSnapshotsSynced(bootId: string, maxId: number): void {
    this.#db
      .prepare(
        "UPDATE snapshots SET synced = 1 WHERE synced = 0 AND boot_id = ? AND id <= ? AND state = 'committed'",
      )
      .run(bootId, maxId);
  }

  markSnapshotCommitted(chainId: string): void {
    this.#db.prepare("UPDATE snapshots SET state = 'committed' WHERE chain_id = ?").run(chainId);
  }

  deleteSnapshot(chainId: string): void {
    this.#db.prepare('DELETE FROM snapshots WHERE chain_id = ?').run(chainId);
  }

  getRootfs(containerId: string): RootfsRow | undefined {
    const row = this.#db.prepare('SELECT * FROM rootfs WHERE container_id = ?').get(containerId) as
      { container_id: string; image_digest: string; created_at: number } | undefined;
    return row === undefined
      ? undefined
      : { containerId: row.container_id, imageDigest: row.image_digest, createdAt: row.created_at };
  }

  putRootfs(containerId: string, imageDigest: string, now: number): void {
    this.#db
      .prepare('INSERT OR IGNORE INTO rootfs (container_id, image_digest, created_at) VALUES (?, ?, ?)')
      .run(containerId, imageDigest, now);
  }

  deleteRootfs(containerId: string): boolean {
    return this.#db.prepare('DELETE FROM rootfs WHERE container_id = ?').run(containerId).changes > 0;
  }

  listRootfs(): RootfsRow[] {
    const rows = this.#db.prepare('SELECT * FROM rootfs ORDER BY created_at').all() as {
      container_id: string;
      image_digest: string;
      created_at: number;
    }[];
    return rows.map((r) => ({
      containerId: r.container_id,
      imageDigest: r.image_digest,
      createdAt: r.created_at,
    }));
  }
}

function toSnapshot(row: SnapshotDbRow): SnapshotRow {
  return {
    chainId: row.chain_id,
    id: row.id,
    parent: row.parent ?? undefined,
    diffId: row.diff_id,
    size: row.size,
    state: row.state === 'committed' ? 'committed' : 'committing',
    createdAt: row.created_at,
    synced: row.synced !== 0,
    bootId: row.boot_id,
  };
}
