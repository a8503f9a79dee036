import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError, errorCodes } from '../../lib/errors.js';
import { openSqliteStore } from './sqlite-store.js';
import type { WatchEvent } from './store.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-writer-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('SqliteStore with a writer thread', () => {
  it('keeps list + watch, and watches from old revisions, exact while batches commit on the writer thread', async () => {
    await withDir(async (dir) => {
      const store = openSqliteStore({ path: join(dir, 'store.db') });
      try {
        const total = 600;
        const writes: Promise<{ ok: boolean }>[] = [];
        const probes: { listed: Set<string>; revision: number; events: WatchEvent[]; done: Promise<void> }[] =
          [];
        for (let round = 0; round < 30; round++) {
          for (let i = round * 20; i < (round + 1) * 20; i++) {
            writes.push(store.create(`/k/${String(i).padStart(4, '0')}`, bytes(`v${i}`)));
          }
          await new Promise((resolve) => setImmediate(resolve));
          // Hold this thread while the writer commits, so the list below reads a commit whose reply
          // (and watch events) this thread has not processed yet.
          const until = performance.now() + 30;
          while (performance.now() < until);
          // Every other round, a watch from the start of history instead of a list: it replays what the
          // writer committed, which must not arrive a second time when the reply is processed.
          const page = round % 2 === 0 ? await store.list('/k/') : { revision: 0, items: [] };
          const watch = store.watch('/k/', page.revision + 1);
          const probe = {
            listed: new Set(page.items.map((kv) => kv.key)),
            revision: page.revision,
            events: [] as WatchEvent[],
            done: Promise.resolve(),
          };
          probe.done = (async () => {
            if (probe.listed.size >= total) return;
            for await (const batch of watch) {
              probe.events.push(...batch);
              if (probe.listed.size + probe.events.length >= total) break;
            }
          })();
          probes.push(probe);
        }
        const results = await Promise.all(writes);
        assert.ok(results.every((r) => r.ok));
        await Promise.all(probes.map((p) => p.done));
        for (const p of probes) {
          const seen = new Set(p.listed);
          for (const e of p.events) {
            assert.ok(
              e.revision > p.revision,
              `event ${e.revision} at or below the list revision ${p.revision}`,
            );
            const key = e.type === 'PUT' ? e.kv.key : e.key;
            assert.ok(!seen.has(key), `${key} both listed and watched (or watched twice)`);
            seen.add(key);
          }
          assert.equal(seen.size, total);
        }
        assert.equal(await store.currentRevision(), total);
      } finally {
        await store.close();
      }
    });
  });

  it('answers writes queued before close, then refuses new ones', async () => {
    await withDir(async (dir) => {
      const store = openSqliteStore({ path: join(dir, 'store.db') });
      const pending = Array.from({ length: 50 }, (_, i) => store.create(`/c/${i}`, bytes('x')));
      await store.close();
      assert.ok((await Promise.all(pending)).every((r) => r.ok));
      await assert.rejects(store.create('/c/late', bytes('x')), (err: unknown) =>
        isBerthError(err, errorCodes.STORE_UNAVAILABLE),
      );
      const reopened = openSqliteStore({ path: join(dir, 'store.db') });
      try {
        assert.equal((await reopened.list('/c/')).items.length, 50);
        assert.equal(await reopened.currentRevision(), 50);
      } finally {
        await reopened.close();
      }
    });
  });
});
