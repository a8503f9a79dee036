import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { CompactedError } from '../../lib/errors.js';
import { Compactor } from './compactor.js';
import { openSqliteStore } from './sqlite-store.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('Compactor', () => {
  it('compacts history older than the window and keeps what is younger', async () => {
    const clock = new FakeClock();
    const store = openSqliteStore({ path: ':memory:', clock });
    const compactor = new Compactor({
      store,
      clock,
      logger: silentLogger(),
      windowMs: 60_000,
      intervalMs: 10_000,
    });
    try {
      await store.create('/k/a', bytes('1'));
      assert.equal(await compactor.tick(), undefined, 'nothing is old enough yet');
      for (let i = 0; i < 5; i++) {
        await store.update('/k/a', bytes(String(i + 2)), (await store.get('/k/a'))!.modRevision);
        await clock.advance(10_000);
        await compactor.tick();
      }
      assert.equal(await store.compactedRevision(), 0, 'the window has not passed');
      await clock.advance(30_000);
      const first = await compactor.tick();
      // Samples were taken at t=0,10,…,50 s (revisions 1-6); at t=80 s the newest one ≥ 60 s old is t=20 s.
      assert.equal(first, 3, 'the newest revision sampled at least a window ago');
      await assert.rejects(store.list('/k/', { revision: 3 }), CompactedError);
      const at4 = await store.list('/k/', { revision: 4 });
      assert.equal(new TextDecoder().decode(at4.items[0]!.value), '4', 'history inside the window is kept');
    } finally {
      await compactor.stop();
      await store.close();
    }
  });
});
