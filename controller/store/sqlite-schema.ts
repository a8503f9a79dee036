/**
 * The SQLite layout of the embedded store: an append-only `log` of every write (the history that
 * watches replay and old-revision lists read), a `kv` table holding each live key's newest value (so
 * reads at the current revision do not scan history), and a `meta` table with the current and
 * compacted revisions. Like kine, the database itself guards compare-and-swap: the unique index on
 * (key, prev_revision) makes two successors of the same version impossible.
 */
import type { Database } from 'better-sqlite3';

export const OP_PUT = 0;
export const OP_DELETE = 1;

export function applySchema(db: Database): void {
  // auto_vacuum must be chosen before the first table exists; it lets compaction give pages back.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  // FULL: every commit fsyncs the WAL, so an acknowledged write survives kill -9 and power loss.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = OFF');
  db.exec(`
    CREATE TABLE IF NOT EXISTS log (
      revision        INTEGER PRIMARY KEY,
      key             TEXT    NOT NULL,
      type            INTEGER NOT NULL,
      create_revision INTEGER NOT NULL,
      prev_revision   INTEGER NOT NULL,
      value           BLOB,
      ts              INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS log_key_prev ON log (key, prev_revision);
    CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision);
    CREATE TABLE IF NOT EXISTS kv (
      key             TEXT    PRIMARY KEY,
      value           BLOB    NOT NULL,
      create_revision INTEGER NOT NULL,
      mod_revision    INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS meta (
      name  TEXT    PRIMARY KEY,
      value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO meta (name, value) VALUES ('current_revision', 0), ('compacted_revision', 0);
  `);
}

/** Row shapes as better-sqlite3 returns them. */
export interface KvRow {
  key: string;
  value: Buffer;
  create_revision: number;
  mod_revision: number;
}

export interface HistoryRow {
  revision: number;
  key: string;
  type: number;
  create_revision: number;
  value: Buffer | null;
  prev_revision: number;
  prev_value: Buffer | null;
  prev_create_revision: number | null;
  prev_type: number | null;
}

export function prepareStatements(db: Database) {
  return {
    getMeta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE name = ?'),
    setMeta: db.prepare<[number, string]>('UPDATE meta SET value = ? WHERE name = ?'),
    getKv: db.prepare<[string], KvRow>(
      'SELECT key, value, create_revision, mod_revision FROM kv WHERE key = ?',
    ),
    upsertKv: db.prepare<[string, Uint8Array, number, number]>(
      `INSERT INTO kv (key, value, create_revision, mod_revision) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision,
         create_revision = excluded.create_revision`,
    ),
    deleteKv: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
    lastLogRevision: db.prepare<[string], { revision: number }>(
      'SELECT revision FROM log WHERE key = ? ORDER BY revision DESC LIMIT 1',
    ),
    appendLog: db.prepare<[number, string, number, number, number, Uint8Array | null, number]>(
      'INSERT INTO log (revision, key, type, create_revision, prev_revision, value, ts) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    listCurrent: db.prepare<[string, string, string, number], KvRow>(
      `SELECT key, value, create_revision, mod_revision FROM kv
       WHERE key >= ? AND key < ? AND key > ? ORDER BY key LIMIT ?`,
    ),
    countCurrent: db.prepare<[string, string, string], { n: number }>(
      'SELECT COUNT(*) AS n FROM kv WHERE key >= ? AND key < ? AND key > ?',
    ),
    listAt: db.prepare<[string, string, string, number, number], KvRow>(
      `SELECT l.key AS key, l.value AS value, l.create_revision AS create_revision, l.revision AS mod_revision
       FROM (SELECT key, MAX(revision) AS rev FROM log
             WHERE key >= ? AND key < ? AND key > ? AND revision <= ? GROUP BY key) AS latest
       JOIN log AS l ON l.revision = latest.rev
       WHERE l.type = ${OP_PUT} ORDER BY l.key LIMIT ?`,
    ),
    countAt: db.prepare<[string, string, string, number], { n: number }>(
      `SELECT COUNT(*) AS n
       FROM (SELECT key, MAX(revision) AS rev FROM log
             WHERE key >= ? AND key < ? AND key > ? AND revision <= ? GROUP BY key) AS latest
       JOIN log AS l ON l.revision = latest.rev
       WHERE l.type = ${OP_PUT}`,
    ),
    history: db.prepare<[number, number, string, string, number], HistoryRow>(
      `SELECT l.revision, l.key, l.type, l.create_revision, l.value, l.prev_revision,
              p.value AS prev_value, p.create_revision AS prev_create_revision, p.type AS prev_type
       FROM log AS l LEFT JOIN log AS p ON p.revision = l.prev_revision
       WHERE l.revision >= ? AND l.revision <= ? AND l.key >= ? AND l.key < ?
       ORDER BY l.revision LIMIT ?`,
    ),
    revisionBefore: db.prepare<[number], { revision: number | null }>(
      'SELECT MAX(revision) AS revision FROM log WHERE ts <= ?',
    ),
    compactRange: db.prepare<[number, number, number]>(
      `DELETE FROM log WHERE revision > ? AND revision <= ? AND (type = ${OP_DELETE} OR revision <
         (SELECT MAX(l2.revision) FROM log AS l2 WHERE l2.key = log.key AND l2.revision <= ?))`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
