/**
 * Runs the `Store` conformance suite against `SqliteStore`, on a database file in a fresh temporary
 * directory (the production shape: WAL, fsync, group commit) and on `:memory:` (the unit-test fake).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../lib/logger.js';
import { openSqliteStore } from '../controller/store/sqlite-store.js';
import { storeContractTests } from '../controller/store/testing/store-contract.js';

storeContractTests('SqliteStore on a file', async (opts) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-store-sqlite-'));
  try {
    const store = openSqliteStore({ path: join(dir, 'store.db'), logger: silentLogger(), ...opts });
    return {
      store,
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
});

storeContractTests('SqliteStore in memory', (opts) => {
  const store = openSqliteStore({ path: ':memory:', logger: silentLogger(), ...opts });
  return Promise.resolve({ store, cleanup: () => store.close() });
});
