/**
 * The `Store` conformance suite: the executable form of the contract in `../store.ts`, run against
 * every backend (`test/store-sqlite.test.ts`, `test/store-etcd.test.ts`). A backend is conformant when
 * all of it passes; when the header of `store.ts` and this suite disagree, fix one of them.
 *
 * Every test gets a fresh, empty store from the factory and cleans it up even on failure. Every wait
 * on a watch is bounded, so a broken backend fails with what it delivered instead of hanging. Tests
 * stay at a few hundred writes so the suite is cheap enough to run against a real etcd too.
 *
 * Choices this suite makes where `store.ts` is silent (etcd's semantics are the tie-breaker):
 * - each successful write takes exactly the next revision (etcd's are contiguous); failed writes and
 *   `compact` take none;
 * - key order is the byte order of the keys' UTF-8 encoding (etcd's, and SQLite's BINARY collation);
 * - `list` at exactly the compaction point may either work or throw `CompactedError` (etcd keeps that
 *   revision readable); below it, it must throw;
 * - a watch on a compacted revision may throw from `watch()` itself or from the first `next()`;
 * - a watch ended by `close()` or its signal finishes quietly; after `Store.close()` a watch finishes
 *   quietly or throws `STORE_UNAVAILABLE`, and `Store.close()` may be called twice;
 * - a store keeps its own copy of a written value (the caller may reuse its buffer afterwards).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { realClock } from '../../../lib/clock.js';
import {
  BerthError,
  CompactedError,
  WatcherDroppedError,
  errorCodes,
  errorMessage,
  type ErrorCode,
} from '../../../lib/errors.js';
import type {
  CreateResult,
  DeleteResult,
  KeyValue,
  Store,
  UpdateResult,
  Watch,
  WatchEvent,
  WatchOptions,
} from '../store.js';

/** Makes a fresh, empty store; `cleanup` closes it and removes whatever the factory created. */
export type StoreFactory = (opts: {
  watchBufferSize?: number;
}) => Promise<{ store: Store; cleanup(): Promise<void> }>;

/** Upper bound for one test; each test does a few seconds of work at most. */
const TEST_TIMEOUT_MS = 60_000;
/** Upper bound for a watch to deliver what a test waits for. */
const EVENT_TIMEOUT_MS = 10_000;
/** How long a watch must stay silent to count as "delivers nothing more". */
const QUIET_MS = 150;

/**
 * Registers `describe(name)` with one test per behaviour of the `Store` contract. `factory` is called
 * once per test; the suite passes `watchBufferSize` only to the slow-watcher test.
 */
export function storeContractTests(name: string, factory: StoreFactory): void {
  void describe(name, () => {
    const test = (
      title: string,
      fn: (ctx: TestContext) => Promise<void>,
      factoryOpts: { watchBufferSize?: number } = {},
    ): void => {
      void it(title, { timeout: TEST_TIMEOUT_MS }, async () => {
        const made = await factory(factoryOpts);
        const store = made.store;
        const readers: WatchReader[] = [];
        const ctx: TestContext = {
          store,
          watch: (prefix, fromRevision, opts) => {
            const reader = new WatchReader(store.watch(prefix, fromRevision, opts), prefix, fromRevision);
            readers.push(reader);
            return reader;
          },
        };
        try {
          await fn(ctx);
        } finally {
          for (const r of readers) r.close();
          await made.cleanup();
        }
      });
    };

    basicTests(test);
    revisionTests(test);
    concurrencyTests(test);
    listTests(test);
    watchTests(test);
    compactionTests(test);
    slowWatcherTests(test);
    largeValueTests(test);
    closeTests(test);
  });
}

interface TestContext {
  readonly store: Store;
  /** Starts a watch that is closed when the test ends. */
  watch(prefix: string, fromRevision: number, opts?: WatchOptions): WatchReader;
}

type Register = (
  title: string,
  fn: (ctx: TestContext) => Promise<void>,
  factoryOpts?: { watchBufferSize?: number },
) => void;

// ---------------------------------------------------------------------------------------------------
// create / get / update / delete

function basicTests(test: Register): void {
  test('a new store is empty at revision 0', async ({ store }) => {
    assert.equal(typeof store.backend, 'string');
    assert.ok(store.backend.length > 0, 'backend name is empty');
    assert.equal(await store.currentRevision(), 0);
    assert.equal(await store.compactedRevision(), 0);
    assert.equal(await store.get('/k'), undefined);
    const all = await store.list('');
    assert.deepEqual(all.items, []);
    assert.equal(all.revision, 0);
    assert.equal(all.continue, undefined);
    assert.equal(await store.count(''), 0);
  });

  test('create stores a new key at a fresh revision and get returns it', async ({ store }) => {
    const before = await store.currentRevision();
    const kv = created(await store.create('/a/k', enc('v1')), 'create /a/k');
    assert.equal(kv.key, '/a/k');
    assertText(kv.value, 'v1', 'created value');
    assert.ok(kv.modRevision > before, `modRevision ${kv.modRevision} not above ${before}`);
    assert.equal(kv.createRevision, kv.modRevision, 'a new key has createRevision == modRevision');
    assert.equal(await store.currentRevision(), kv.modRevision);
    assertKv(await store.get('/a/k'), kv, 'get after create');
  });

  test('create of an existing key returns exists with the current value and writes nothing', async ({
    store,
  }) => {
    const first = created(await store.create('/k', enc('v1')), 'create');
    const second = updated(await store.update('/k', enc('v2'), first.modRevision), 'update').kv;
    const rev = await store.currentRevision();
    const again = await store.create('/k', enc('v3'));
    assert.equal(again.ok, false, 'create of an existing key succeeded');
    assert.equal(again.reason, 'exists');
    assertKv(again.current, second, 'current in the exists result');
    assert.equal(await store.currentRevision(), rev, 'a failed create consumed a revision');
    assertKv(await store.get('/k'), second, 'get after failed create');
  });

  test('update replaces the value when modRevision matches and keeps createRevision', async ({ store }) => {
    let prev = created(await store.create('/k', enc('v0')), 'create');
    const createRevision = prev.createRevision;
    for (let i = 1; i <= 3; i++) {
      const r = updated(await store.update('/k', enc(`v${i}`), prev.modRevision), `update ${i}`);
      assert.equal(r.kv.key, '/k');
      assertText(r.kv.value, `v${i}`, `value after update ${i}`);
      assert.equal(r.kv.createRevision, createRevision, 'createRevision moved on update');
      assert.ok(r.kv.modRevision > prev.modRevision, 'modRevision did not move on update');
      assertKv(r.prevKv, prev, `prevKv of update ${i}`);
      assertKv(await store.get('/k'), r.kv, `get after update ${i}`);
      prev = r.kv;
    }
    assert.equal(await store.currentRevision(), prev.modRevision);
  });

  test('update of a missing or deleted key is not-found', async ({ store }) => {
    const never = await store.update('/never', enc('x'), 1);
    assert.deepEqual(summary(never), { ok: false, reason: 'not-found' });
    const kv = created(await store.create('/gone', enc('x')), 'create');
    deleted(await store.delete('/gone'), 'delete');
    const rev = await store.currentRevision();
    // With the revision it last had: still not-found, not a conflict.
    const gone = await store.update('/gone', enc('y'), kv.modRevision);
    assert.deepEqual(summary(gone), { ok: false, reason: 'not-found' });
    assert.equal(await store.currentRevision(), rev, 'a failed update consumed a revision');
    assert.equal(await store.get('/gone'), undefined);
  });

  test('update with a stale or unknown revision is a conflict carrying the current value', async ({
    store,
  }) => {
    const v1 = created(await store.create('/k', enc('v1')), 'create');
    const v2 = updated(await store.update('/k', enc('v2'), v1.modRevision), 'update').kv;
    const rev = await store.currentRevision();
    for (const expected of [v1.modRevision, v2.modRevision + 1, v2.modRevision + 1000]) {
      const r = await store.update('/k', enc('lost'), expected);
      assert.equal(r.ok, false, `update expecting ${expected} succeeded`);
      assert.equal(r.reason, 'conflict', `update expecting ${expected}`);
      assertKv(r.current, v2, `current in the conflict expecting ${expected}`);
    }
    assert.equal(await store.currentRevision(), rev, 'a failed update consumed a revision');
    assertKv(await store.get('/k'), v2, 'value after conflicts');
  });

  test('delete without an expected revision removes the key', async ({ store }) => {
    const v1 = created(await store.create('/k', enc('v1')), 'create');
    const v2 = updated(await store.update('/k', enc('v2'), v1.modRevision), 'update').kv;
    const d = deleted(await store.delete('/k'), 'delete');
    assert.ok(d.revision > v2.modRevision, 'delete did not take a new revision');
    assertKv(d.prevKv, v2, 'prevKv of delete');
    assert.equal(await store.currentRevision(), d.revision);
    assert.equal(await store.get('/k'), undefined);
    assert.equal(await store.count('/k'), 0);
    assert.deepEqual((await store.list('/k')).items, []);
    const again = await store.delete('/k');
    assert.deepEqual(summary(again), { ok: false, reason: 'not-found' });
    assert.equal(await store.currentRevision(), d.revision, 'a failed delete consumed a revision');
  });

  test('delete with an expected revision deletes only that revision', async ({ store }) => {
    const v1 = created(await store.create('/k', enc('v1')), 'create');
    const v2 = updated(await store.update('/k', enc('v2'), v1.modRevision), 'update').kv;
    const rev = await store.currentRevision();
    for (const expected of [v1.modRevision, v2.modRevision + 1]) {
      const r = await store.delete('/k', expected);
      assert.equal(r.ok, false, `delete expecting ${expected} succeeded`);
      assert.equal(r.reason, 'conflict', `delete expecting ${expected}`);
      assertKv(r.current, v2, `current in the conflict expecting ${expected}`);
    }
    assert.equal(await store.currentRevision(), rev, 'a failed delete consumed a revision');
    assertKv(await store.get('/k'), v2, 'key after failed deletes');
    const d = deleted(await store.delete('/k', v2.modRevision), 'delete with matching revision');
    assertKv(d.prevKv, v2, 'prevKv of the conditional delete');
    assert.equal(await store.get('/k'), undefined);
    const missing = await store.delete('/k', d.revision);
    assert.deepEqual(summary(missing), { ok: false, reason: 'not-found' });
  });

  test('values round-trip byte for byte, including empty and non-UTF-8 values', async (ctx) => {
    const { store } = ctx;
    const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const backing = Uint8Array.from([9, 9, 9, 0xc3, 0x28, 0x00, 0xff, 9, 9]);
    const values: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['nul', Uint8Array.from([0])],
      ['all-bytes', allBytes],
      ['reversed', allBytes.slice().reverse()],
      // Invalid UTF-8: lone continuation, overlong NUL, a UTF-16 surrogate, truncated sequence.
      ['invalid-utf8', Uint8Array.from([0x80, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98])],
      // A view into a larger buffer: only the viewed bytes are the value.
      ['subarray', backing.subarray(3, 7)],
      ['text', enc('{"kind":"Pod","name":"ä😀"}')],
    ];
    const base = await store.currentRevision();
    const w = ctx.watch('/v/', base + 1);
    const kvs = new Map<string, KeyValue>();
    for (const [name, value] of values) {
      const kv = created(await store.create(`/v/${name}`, value), `create ${name}`);
      assertBytes(kv.value, value, `create result of ${name}`);
      kvs.set(name, kv);
    }
    for (const [name, value] of values) {
      const got = await store.get(`/v/${name}`);
      assert.ok(got !== undefined, `get /v/${name} found nothing`);
      assertBytes(got.value, value, `get of ${name}`);
    }
    const listed = await store.list('/v/');
    assert.equal(listed.items.length, values.length);
    for (const item of listed.items) {
      const name = item.key.slice('/v/'.length);
      const value = values.find(([n]) => n === name)?.[1];
      assert.ok(value !== undefined, `list returned unexpected key ${item.key}`);
      assertBytes(item.value, value, `list item ${name}`);
    }
    // Updating to and from the empty value, and the previous value coming back in prevKv.
    const allKv = kvs.get('all-bytes');
    assert.ok(allKv !== undefined);
    const toEmpty = updated(
      await store.update('/v/all-bytes', new Uint8Array(0), allKv.modRevision),
      'update to empty',
    );
    assertBytes(toEmpty.kv.value, new Uint8Array(0), 'update to empty');
    assertBytes(toEmpty.prevKv.value, allBytes, 'prevKv of update to empty');
    const emptyAgain = await store.get('/v/all-bytes');
    assert.ok(emptyAgain !== undefined, 'a key with an empty value must still exist');
    assertBytes(emptyAgain.value, new Uint8Array(0), 'get of the emptied key');

    const events = await w.take(values.length + 1);
    for (const [i, [name, value]] of values.entries()) {
      const ev = at(events, i);
      assert.equal(ev.type, 'PUT');
      assert.equal(ev.kv.key, `/v/${name}`);
      assertBytes(ev.kv.value, value, `watch event for ${name}`);
    }
    const last = at(events, values.length);
    assert.equal(last.type, 'PUT');
    assertBytes(last.kv.value, new Uint8Array(0), 'watch event of update to empty');
    assert.ok(last.prevKv !== undefined, 'update event without prevKv');
    assertBytes(last.prevKv.value, allBytes, 'prevKv in watch event');
  });

  test('the store keeps its own copy of a written value', async (ctx) => {
    const { store } = ctx;
    const base = await store.currentRevision();
    const buf = enc('original');
    created(await store.create('/own/k', buf), 'create');
    buf.fill(0x21); // the caller reuses its buffer
    const got = await store.get('/own/k');
    assert.ok(got !== undefined);
    assertText(got.value, 'original', 'get after the caller reused its buffer');
    assertText(at((await store.list('/own/')).items, 0).value, 'original', 'list');
    const [ev] = await ctx.watch('/own/', base + 1).take(1);
    assert.ok(ev?.type === 'PUT');
    assertText(ev.kv.value, 'original', 'history replayed by a watch');
  });

  test('createRevision is kept across updates and renewed when a key is recreated', async ({ store }) => {
    const c1 = created(await store.create('/k', enc('a')), 'create');
    const u1 = updated(await store.update('/k', enc('b'), c1.modRevision), 'update').kv;
    const u2 = updated(await store.update('/k', enc('c'), u1.modRevision), 'update').kv;
    assert.equal(u2.createRevision, c1.createRevision);
    assert.ok(u2.modRevision > u1.modRevision && u1.modRevision > c1.modRevision);
    const d = deleted(await store.delete('/k', u2.modRevision), 'delete');
    const c2 = created(await store.create('/k', enc('d')), 'recreate');
    assert.ok(
      c2.createRevision > d.revision,
      `recreated key has createRevision ${c2.createRevision}, not above the delete at ${d.revision}`,
    );
    assert.equal(c2.modRevision, c2.createRevision);
    assertKv(await store.get('/k'), c2, 'get after recreate');
  });

  test('keys the store cannot hold are rejected with STORE_INVALID and write nothing', async ({ store }) => {
    const base = await store.currentRevision();
    await assertRejectsCode(store.create('', enc('x')), errorCodes.STORE_INVALID, 'create of ""');
    await assertRejectsCode(
      store.create('/a\0b', enc('x')),
      errorCodes.STORE_INVALID,
      'create of a key with NUL',
    );
    assert.equal(await store.currentRevision(), base, 'a rejected create consumed a revision');
    assert.equal(await store.count(''), 0);
  });
}

// ---------------------------------------------------------------------------------------------------
// revisions

function revisionTests(test: Register): void {
  test('every successful write takes exactly the next revision, across keys', async ({ store }) => {
    let rev = await store.currentRevision();
    const live = new Map<string, KeyValue>();
    for (let i = 0; i < 30; i++) {
      const key = `/r/${i % 5}`;
      const cur = live.get(key);
      let got: number;
      if (cur === undefined) {
        const kv = created(await store.create(key, enc(`${i}`)), `write ${i}: create ${key}`);
        live.set(key, kv);
        got = kv.modRevision;
      } else if (i % 7 === 3) {
        got = deleted(await store.delete(key, cur.modRevision), `write ${i}: delete ${key}`).revision;
        live.delete(key);
      } else {
        const kv = updated(
          await store.update(key, enc(`${i}`), cur.modRevision),
          `write ${i}: update ${key}`,
        ).kv;
        live.set(key, kv);
        got = kv.modRevision;
      }
      assert.equal(got, rev + 1, `write ${i} took revision ${got}, expected ${rev + 1}`);
      rev = got;
      assert.equal(await store.currentRevision(), rev, `currentRevision after write ${i}`);
    }
    assert.equal((await store.list('/r/')).revision, rev, 'list revision at rest');
  });

  test('failed writes consume no revision and produce no event', async (ctx) => {
    const { store } = ctx;
    const kv = created(await store.create('/f/k', enc('v')), 'create');
    const rev = await store.currentRevision();
    const w = ctx.watch('/f/', rev + 1);
    const failures: [string, Promise<CreateResult | UpdateResult | DeleteResult>][] = [
      ['create of an existing key', store.create('/f/k', enc('x'))],
      ['update of a missing key', store.update('/f/missing', enc('x'), kv.modRevision)],
      ['update with a stale revision', store.update('/f/k', enc('x'), kv.modRevision - 1)],
      ['update with a future revision', store.update('/f/k', enc('x'), rev + 5)],
      ['delete of a missing key', store.delete('/f/missing')],
      ['conditional delete of a missing key', store.delete('/f/missing', kv.modRevision)],
      ['delete with a stale revision', store.delete('/f/k', kv.modRevision + 1)],
    ];
    for (const [what, p] of failures) {
      const r = await p;
      assert.equal(r.ok, false, `${what} succeeded`);
    }
    assert.equal(await store.currentRevision(), rev, 'failed writes moved currentRevision');
    await w.expectQuiet(QUIET_MS);
    const next = created(await store.create('/f/next', enc('n')), 'create after failures');
    assert.equal(next.modRevision, rev + 1, 'the write after failures skipped revisions');
    assert.deepEqual((await w.take(1)).map(eventLine), [putLine(next, undefined)]);
  });
}

// ---------------------------------------------------------------------------------------------------
// compare-and-swap under concurrency

function concurrencyTests(test: Register): void {
  test('concurrent read-modify-write updaters lose no increment', async ({ store }) => {
    const WORKERS = 20;
    const PER_WORKER = 5;
    const key = '/cas/counter';
    const start = created(await store.create(key, enc('0')), 'create counter');
    const applied: { kv: KeyValue; prevKv: KeyValue }[] = [];
    let conflicts = 0;
    await Promise.all(
      range(WORKERS).map(async (w) => {
        for (let i = 0; i < PER_WORKER; i++) {
          for (let attempt = 0; ; attempt++) {
            assert.ok(attempt < 10_000, `worker ${w} made no progress in ${attempt} attempts`);
            const cur = await store.get(key);
            assert.ok(cur !== undefined, 'counter vanished');
            const n = Number(dec(cur.value));
            const r = await store.update(key, enc(String(n + 1)), cur.modRevision);
            if (r.ok) {
              applied.push({ kv: r.kv, prevKv: r.prevKv });
              break;
            }
            assert.equal(r.reason, 'conflict', `worker ${w}: update returned ${r.reason}`);
            assert.ok(
              r.current.modRevision > cur.modRevision,
              `conflict carries revision ${r.current.modRevision}, not newer than ${cur.modRevision}`,
            );
            conflicts++;
          }
        }
      }),
    );
    const total = WORKERS * PER_WORKER;
    const final = await store.get(key);
    assert.ok(final !== undefined);
    assertText(final.value, String(total), `final counter (${conflicts} conflicts retried)`);
    assert.equal(applied.length, total);
    applied.sort((a, b) => a.kv.modRevision - b.kv.modRevision);
    let prev = start;
    for (const [i, a] of applied.entries()) {
      assert.equal(a.kv.modRevision, start.modRevision + i + 1, `increment ${i + 1} revision`);
      assertText(a.kv.value, String(i + 1), `value written at increment ${i + 1}`);
      assertKv(a.prevKv, prev, `prevKv of increment ${i + 1}`);
      prev = a.kv;
    }
    assert.equal(
      await store.currentRevision(),
      start.modRevision + total,
      `${conflicts} lost compare-and-swaps consumed revisions`,
    );
  });

  test('exactly one of many concurrent creates of a key wins', async ({ store }) => {
    const base = await store.currentRevision();
    const results = await Promise.all(range(50).map((i) => store.create('/race/k', enc(`c${i}`))));
    const winners = results.flatMap((r) => (r.ok ? [r.kv] : []));
    assert.equal(winners.length, 1, `${winners.length} creates of one key succeeded`);
    const winner = at(winners, 0);
    assert.equal(winner.modRevision, base + 1);
    for (const r of results) {
      if (r.ok) continue;
      assert.equal(r.reason, 'exists');
      assertKv(r.current, winner, 'current in a losing create');
    }
    assert.equal(await store.currentRevision(), base + 1, 'losing creates consumed revisions');
    assertKv(await store.get('/race/k'), winner, 'get after the race');
  });

  test('exactly one of many concurrent updates expecting the same revision wins', async ({ store }) => {
    const kv = created(await store.create('/race/k', enc('v')), 'create');
    const results = await Promise.all(
      range(20).map((i) => store.update('/race/k', enc(`u${i}`), kv.modRevision)),
    );
    const winners = results.flatMap((r) => (r.ok ? [r.kv] : []));
    assert.equal(winners.length, 1, `${winners.length} updates from one revision succeeded`);
    const winner = at(winners, 0);
    for (const r of results) {
      if (r.ok) continue;
      assert.equal(r.reason, 'conflict');
      assertKv(r.current, winner, 'current in a losing update');
    }
    assert.equal(await store.currentRevision(), kv.modRevision + 1);
  });

  test('exactly one of many concurrent deletes wins', async ({ store }) => {
    const kv = created(await store.create('/race/k', enc('v')), 'create');
    const results = await Promise.all(range(20).map(() => store.delete('/race/k')));
    const winners = results.filter((r) => r.ok);
    assert.equal(winners.length, 1, `${winners.length} deletes of one key succeeded`);
    for (const r of results) {
      if (!r.ok) assert.equal(r.reason, 'not-found');
    }
    assert.equal(await store.currentRevision(), kv.modRevision + 1);
    assert.equal(await store.get('/race/k'), undefined);
  });
}

// ---------------------------------------------------------------------------------------------------
// list and count

function listTests(test: Register): void {
  test('list and count see only keys under the prefix', async ({ store }) => {
    const keys = [
      '/a',
      '/a/',
      '/a/1',
      '/a/2/x',
      '/ab',
      '/ab/1',
      '/A/1',
      '/b/1',
      // SQL LIKE wildcards and an escape character must be plain characters in a prefix.
      '/a_/1',
      '/a%/1',
      '/a\\/1',
      '/x_y/1',
      '/xzy/1',
    ];
    for (const key of keys) created(await store.create(key, enc(key)), `create ${key}`);
    const cases: [string, string[]][] = [
      ['/a/', ['/a/', '/a/1', '/a/2/x']],
      ['/a', ['/a', '/a%/1', '/a/', '/a/1', '/a/2/x', '/a\\/1', '/a_/1', '/ab', '/ab/1']],
      ['/ab', ['/ab', '/ab/1']],
      ['/a_/', ['/a_/1']],
      ['/a%/', ['/a%/1']],
      ['/x_y/', ['/x_y/1']],
      ['/a/2/x', ['/a/2/x']],
      ['/nothing/', []],
      ['', sortedKeys(keys)],
    ];
    for (const [prefix, expected] of cases) {
      const got = await store.list(prefix);
      assert.deepEqual(
        got.items.map((kv) => kv.key),
        sortedKeys(expected),
        `list(${JSON.stringify(prefix)})`,
      );
      for (const kv of got.items) assertText(kv.value, kv.key, `value of ${kv.key}`);
      assert.equal(await store.count(prefix), expected.length, `count(${JSON.stringify(prefix)})`);
    }
    deleted(await store.delete('/a/1'), 'delete /a/1');
    assert.deepEqual(
      (await store.list('/a/')).items.map((kv) => kv.key),
      ['/a/', '/a/2/x'],
    );
    assert.equal(await store.count('/a/'), 2, 'count after delete');
  });

  test('list returns keys in UTF-8 byte order', async ({ store }) => {
    const keys = [
      '/k/b',
      '/k/10',
      '/k/9',
      '/k/B',
      '/k/a/b',
      '/k/a',
      '/k/a-',
      '/k/a.',
      '/k/é',
      '/k/z',
      '/k/\u{1F600}', // astral: UTF-8 F0.., sorts after U+FFFD (EF BF BD); UTF-16 order would differ
      '/k/\uFFFD',
      '/k/~',
    ];
    // Created out of order on purpose.
    for (const key of [...keys].reverse()) created(await store.create(key, enc('v')), key);
    const expected = sortedKeys(keys);
    assert.equal(expected.indexOf('/k/\uFFFD') < expected.indexOf('/k/\u{1F600}'), true);
    assert.deepEqual(
      (await store.list('/k/')).items.map((kv) => kv.key),
      expected,
    );
    const paged: string[] = [];
    let token: string | undefined;
    do {
      const page = await store.list(
        '/k/',
        token === undefined ? { limit: 4 } : { limit: 4, continue: token },
      );
      paged.push(...page.items.map((kv) => kv.key));
      token = page.continue;
    } while (token !== undefined);
    assert.deepEqual(paged, expected, 'keys read page by page');
  });

  test('list at an older revision sees the state of that revision', async ({ store }) => {
    const model = new Model();
    const base = await store.currentRevision();
    model.put(created(await store.create('/o/a', enc('a1')), 'create a'));
    model.put(created(await store.create('/o/b', enc('b1')), 'create b'));
    const a = model.put(created(await store.create('/o/c', enc('c1')), 'create c'));
    const old = await store.currentRevision();
    const a1 = await store.get('/o/a');
    assert.ok(a1 !== undefined);
    model.put(updated(await store.update('/o/a', enc('a2'), a1.modRevision), 'update a').kv);
    model.delete('/o/b', deleted(await store.delete('/o/b'), 'delete b').revision);
    model.put(created(await store.create('/o/d', enc('d1')), 'create d'));
    model.delete('/o/c', deleted(await store.delete('/o/c', a.modRevision), 'delete c').revision);
    model.put(created(await store.create('/o/c', enc('c2')), 'recreate c'));
    const now = await store.currentRevision();

    for (let rev = base + 1; rev <= now; rev++) {
      const got = await store.list('/o/', { revision: rev });
      assert.equal(got.revision, rev, `revision of list at ${rev}`);
      assert.deepEqual(rows(got.items), rows(model.at(rev, '/o/')), `list at revision ${rev}`);
    }
    const atOld = await store.list('/o/', { revision: old });
    assert.deepEqual(
      atOld.items.map((kv) => `${kv.key}=${dec(kv.value)}`),
      ['/o/a=a1', '/o/b=b1', '/o/c=c1'],
    );
    const current = await store.list('/o/');
    assert.equal(current.revision, now);
    assert.deepEqual(rows(current.items), rows(model.at(now, '/o/')));
  });

  test('list at a future revision is rejected with STORE_FUTURE_REVISION', async ({ store }) => {
    created(await store.create('/k', enc('v')), 'create');
    const rev = await store.currentRevision();
    await assertRejectsCode(
      store.list('/', { revision: rev + 1 }),
      errorCodes.STORE_FUTURE_REVISION,
      `list at revision ${rev + 1} of ${rev}`,
    );
    await assertRejectsCode(
      store.list('/', { revision: rev + 1000 }),
      errorCodes.STORE_FUTURE_REVISION,
      `list at revision ${rev + 1000} of ${rev}`,
    );
  });

  test('pages are consistent at the first page revision while writes happen between them', async ({
    store,
  }) => {
    const model = new Model();
    const name = (i: number): string => `/p/${String(i).padStart(2, '0')}`;
    for (let i = 0; i < 25; i++) model.put(created(await store.create(name(i), enc(`v${i}`)), name(i)));
    model.put(created(await store.create('/p', enc('outside')), '/p'));
    model.put(created(await store.create('/q/1', enc('outside')), '/q/1'));
    const rev = await store.currentRevision();
    const expected = rows(model.at(rev, '/p/'));

    const page1 = await store.list('/p/', { limit: 10 });
    assert.equal(page1.revision, rev);
    assert.equal(page1.items.length, 10);
    assert.ok(page1.continue !== undefined, 'first page has no continue token');
    assertRemaining(page1.remainingItemCount, 15, 'page 1');

    // Writes between pages, before and after the cursor; none may show in later pages.
    const p05 = await store.get(name(5));
    const p12 = await store.get(name(12));
    assert.ok(p05 !== undefined && p12 !== undefined);
    updated(await store.update(name(5), enc('changed'), p05.modRevision), 'update 05');
    updated(await store.update(name(12), enc('changed'), p12.modRevision), 'update 12');
    deleted(await store.delete(name(20)), 'delete 20');
    created(await store.create('/p/15a', enc('new')), 'create 15a');
    created(await store.create('/p/99', enc('new')), 'create 99');
    assert.ok((await store.currentRevision()) > rev);

    const page2 = await store.list('/p/', { limit: 10, continue: page1.continue });
    assert.equal(page2.revision, rev, 'page 2 is not at the first page revision');
    assert.equal(page2.items.length, 10);
    assert.ok(page2.continue !== undefined, 'second page has no continue token');
    assertRemaining(page2.remainingItemCount, 5, 'page 2');
    const page3 = await store.list('/p/', { limit: 10, continue: page2.continue });
    assert.equal(page3.revision, rev, 'page 3 is not at the first page revision');
    assert.equal(page3.continue, undefined, 'last page has a continue token');
    assertRemaining(page3.remainingItemCount, 0, 'page 3');
    assert.deepEqual(
      rows([...page1.items, ...page2.items, ...page3.items]),
      expected,
      'pages joined differ from the state at the first page revision',
    );
  });

  test('the last page has no continue token; limit 0 means no limit', async ({ store }) => {
    for (let i = 0; i < 20; i++)
      created(await store.create(`/l/${String(i).padStart(2, '0')}`, enc('v')), `${i}`);
    const p1 = await store.list('/l/', { limit: 10 });
    assert.ok(p1.continue !== undefined);
    const p2 = await store.list('/l/', { limit: 10, continue: p1.continue });
    assert.equal(p2.items.length, 10);
    assert.equal(p2.continue, undefined, 'a page that ends exactly at the last key has a continue token');
    assertRemaining(p2.remainingItemCount, 0, 'exact last page');
    const one = await store.list('/l/', { limit: 50 });
    assert.equal(one.items.length, 20);
    assert.equal(one.continue, undefined);
    const unlimited = await store.list('/l/', { limit: 0 });
    assert.equal(unlimited.items.length, 20);
    assert.equal(unlimited.continue, undefined);
  });

  test('a malformed continue token is rejected with STORE_INVALID', async ({ store }) => {
    for (let i = 0; i < 3; i++) created(await store.create(`/t/${i}`, enc('v')), `${i}`);
    const bad = [
      'not a token!',
      Buffer.from('not json').toString('base64url'),
      Buffer.from(JSON.stringify({ hello: 1 })).toString('base64url'),
      Buffer.from(JSON.stringify({ v: 1, rev: -3, after: '/t/0' })).toString('base64url'),
    ];
    for (const token of bad) {
      await assertRejectsCode(
        store.list('/t/', { limit: 1, continue: token }),
        errorCodes.STORE_INVALID,
        `continue ${JSON.stringify(token)}`,
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// watch

function watchTests(test: Register): void {
  test('watch delivers every write from concurrent writers once, in revision order', async (ctx) => {
    const { store } = ctx;
    const WRITERS = 5;
    const KEYS = 10; // per writer: 50 keys in all
    const OPS = 40; // per writer: 200 writes in all
    const base = await store.currentRevision();
    const live = ctx.watch('/w/', base + 1);
    const acks: { revision: number; line: string }[] = [];
    await Promise.all(
      range(WRITERS).map(async (w) => {
        const state = new Map<string, KeyValue>();
        for (let j = 0; j < OPS; j++) {
          const key = `/w/${w}/${j % KEYS}`;
          const value = `${w}.${j}`;
          const cur = state.get(key);
          if (cur === undefined) {
            const kv = created(await store.create(key, enc(value)), `create ${key}`);
            state.set(key, kv);
            acks.push({ revision: kv.modRevision, line: putLine(kv, undefined) });
          } else if (Math.floor(j / KEYS) % 3 === 2) {
            const d = deleted(await store.delete(key, cur.modRevision), `delete ${key}`);
            state.delete(key);
            acks.push({ revision: d.revision, line: deleteLine(d.revision, key, cur) });
          } else {
            const r = updated(await store.update(key, enc(value), cur.modRevision), `update ${key}`);
            state.set(key, r.kv);
            acks.push({ revision: r.kv.modRevision, line: putLine(r.kv, cur) });
          }
        }
      }),
    );
    const total = WRITERS * OPS;
    acks.sort((a, b) => a.revision - b.revision);
    assert.deepEqual(
      acks.map((a) => a.revision),
      range(total).map((i) => base + 1 + i),
      'acknowledged revisions are not contiguous',
    );
    const expected = acks.map((a) => a.line);
    const events = await live.take(total);
    assert.deepEqual(events.map(eventLine), expected, 'live watch');
    await live.expectQuiet(QUIET_MS);
    // The same history, replayed by a watch started after the fact.
    const replay = ctx.watch('/w/', base + 1);
    assert.deepEqual((await replay.take(total)).map(eventLine), expected, 'replayed watch');
    await replay.expectQuiet(QUIET_MS);
  });

  test('watch from an old revision replays history, then continues live', async (ctx) => {
    const { store } = ctx;
    // History on one key: create, updates, a delete, a recreate; plus a second key.
    const history: { revision: number; line: string }[] = [];
    let cur: KeyValue | undefined;
    const put = async (key: string, value: string): Promise<void> => {
      const prev = cur?.key === key ? cur : undefined;
      const kv =
        prev === undefined
          ? created(await store.create(key, enc(value)), `create ${key}`)
          : updated(await store.update(key, enc(value), prev.modRevision), `update ${key}`).kv;
      history.push({ revision: kv.modRevision, line: putLine(kv, prev) });
      cur = kv;
    };
    for (let i = 0; i < 6; i++) await put('/h/k', `v${i}`);
    assert.ok(cur !== undefined);
    const d = deleted(await store.delete('/h/k'), 'delete');
    history.push({ revision: d.revision, line: deleteLine(d.revision, '/h/k', cur) });
    cur = undefined;
    for (let i = 6; i < 9; i++) await put('/h/k', `v${i}`);
    const other = created(await store.create('/h/other', enc('o')), 'create other');
    history.push({ revision: other.modRevision, line: putLine(other, undefined) });

    const from = at(history, 2).revision;
    const w = ctx.watch('/h/', from);
    const replayed = history.slice(2).map((h) => h.line);
    assert.deepEqual((await w.take(replayed.length)).map(eventLine), replayed, 'replayed history');
    await w.expectQuiet(QUIET_MS);
    const liveStart = history.length;
    for (let i = 9; i < 14; i++) await put('/h/k', `v${i}`);
    const live = history.slice(liveStart).map((h) => h.line);
    assert.deepEqual((await w.take(live.length)).map(eventLine), live, 'live events');
  });

  test('watch sees only keys under its prefix', async (ctx) => {
    const { store } = ctx;
    const base = await store.currentRevision();
    const w = ctx.watch('/p/a/', base + 1);
    const expected: string[] = [];
    const write = async (key: string): Promise<void> => {
      const kv = created(await store.create(key, enc(key)), key);
      if (key.startsWith('/p/a/')) expected.push(putLine(kv, undefined));
    };
    for (const key of ['/p/a', '/p/a/1', '/p/ab', '/p/a_/1', '/p/a%/1', '/p/b/1', '/p/a/2', '/p/A/1']) {
      await write(key);
    }
    const ab = await store.get('/p/ab');
    assert.ok(ab !== undefined);
    deleted(await store.delete('/p/ab'), 'delete /p/ab');
    const a1 = await store.get('/p/a/1');
    assert.ok(a1 !== undefined);
    const d = deleted(await store.delete('/p/a/1'), 'delete /p/a/1');
    expected.push(deleteLine(d.revision, '/p/a/1', a1));
    await write('/p/a/zz');
    assert.deepEqual((await w.take(expected.length)).map(eventLine), expected);
    await w.expectQuiet(QUIET_MS);
  });

  test('a watch resumed from the last seen revision + 1 gets exactly the rest', async (ctx) => {
    const { store } = ctx;
    const TOTAL = 60;
    const K = 20;
    const base = await store.currentRevision();
    const first = ctx.watch('/r/', base + 1);
    const acks: { revision: number; line: string }[] = [];
    const writer = (async () => {
      const state = new Map<string, KeyValue>();
      for (let i = 0; i < TOTAL; i++) {
        const key = `/r/${i % 7}`;
        const cur = state.get(key);
        const kv =
          cur === undefined
            ? created(await store.create(key, enc(`${i}`)), key)
            : updated(await store.update(key, enc(`${i}`), cur.modRevision), key).kv;
        state.set(key, kv);
        acks.push({ revision: kv.modRevision, line: putLine(kv, cur) });
        if (i % 10 === 0) await realClock.sleep(1); // let the watcher run mid-stream
      }
    })();
    writer.catch(() => undefined); // awaited below; keeps an early failure from going unhandled
    const seen = await first.take(K);
    first.close();
    await first.expectEnd();
    const lastSeen = at(seen, K - 1).revision;
    const second = ctx.watch('/r/', lastSeen + 1);
    const rest = await second.take(TOTAL - K);
    await writer;
    await second.expectQuiet(QUIET_MS);
    acks.sort((a, b) => a.revision - b.revision);
    assert.deepEqual(
      [...seen, ...rest].map(eventLine),
      acks.map((a) => a.line),
    );
  });

  test('close() ends iteration without an error', async (ctx) => {
    const { store } = ctx;
    // close() while a next() is waiting.
    const base = await store.currentRevision();
    const w = ctx.watch('/c/', base + 1);
    created(await store.create('/c/1', enc('v')), 'create');
    await w.take(1);
    const ending = w.expectEnd();
    w.close();
    assert.deepEqual(await ending, [], 'events after close');
    w.close(); // a second close is harmless

    // close() from inside a for-await loop.
    const watch = store.watch('/c/', base + 1);
    let batches = 0;
    try {
      const loop = (async () => {
        for await (const _batch of watch) {
          batches++;
          watch.close();
        }
      })();
      await withTimeout(loop, EVENT_TIMEOUT_MS, 'for-await loop after close()');
    } finally {
      watch.close();
    }
    assert.equal(batches, 1, 'the loop went on after close()');

    // close() before iterating.
    const early = ctx.watch('/c/', base + 1);
    early.close();
    await early.expectEnd();
  });

  test('aborting the signal ends iteration without an error', async (ctx) => {
    const { store } = ctx;
    const base = await store.currentRevision();
    const ac = new AbortController();
    const w = ctx.watch('/s/', base + 1, { signal: ac.signal });
    created(await store.create('/s/1', enc('v')), 'create');
    await w.take(1);
    const ending = w.expectEnd();
    ac.abort();
    assert.deepEqual(await ending, [], 'events after abort');

    const aborted = AbortSignal.abort();
    const pre = ctx.watch('/s/', base + 1, { signal: aborted });
    await pre.expectEnd();
  });
}

// ---------------------------------------------------------------------------------------------------
// compaction

function compactionTests(test: Register): void {
  test('compaction drops history at and below the point and keeps what is above', async (ctx) => {
    const { store } = ctx;
    const model = new Model();
    const lines: string[] = [];
    const kvs: KeyValue[] = [];
    for (let i = 0; i < 5; i++) {
      const kv = model.put(created(await store.create(`/c/${i}`, enc(`a${i}`)), `create ${i}`));
      kvs.push(kv);
      lines.push(putLine(kv, undefined));
    }
    for (let i = 0; i < 3; i++) {
      const prev = at(kvs, i);
      const r = updated(await store.update(prev.key, enc(`b${i}`), prev.modRevision), `update ${i}`);
      model.put(r.kv);
      kvs[i] = r.kv;
      lines.push(putLine(r.kv, prev));
    }
    const d = deleted(await store.delete('/c/3'), 'delete 3');
    model.delete('/c/3', d.revision);
    lines.push(deleteLine(d.revision, '/c/3', at(kvs, 3)));
    const c5 = model.put(created(await store.create('/c/5', enc('a5')), 'create 5'));
    lines.push(putLine(c5, undefined));
    const top = await store.currentRevision();
    const point = top - 4;

    await store.compact(point);
    assert.equal(await store.compactedRevision(), point);
    assert.equal(await store.currentRevision(), top, 'compaction consumed a revision');

    for (const from of [1, point - 1, point]) {
      const err = await watchFailure(ctx, '/c/', from);
      assertCompacted(err, from, point, `watch from ${from}`);
    }
    for (const rev of [1, point - 1]) {
      const err = await rejection(store.list('/c/', { revision: rev }));
      assertCompacted(err, rev, point, `list at ${rev}`);
    }
    // Exactly at the point: etcd keeps it readable, the header says it is gone; either, but right.
    try {
      const atPoint = await store.list('/c/', { revision: point });
      assert.deepEqual(rows(atPoint.items), rows(model.at(point, '/c/')), 'list at the compaction point');
    } catch (err) {
      assertCompacted(err, point, point, 'list at the compaction point');
    }
    for (let rev = point + 1; rev <= top; rev++) {
      const got = await store.list('/c/', { revision: rev });
      assert.deepEqual(rows(got.items), rows(model.at(rev, '/c/')), `list at ${rev} after compaction`);
    }
    assert.deepEqual(rows((await store.list('/c/')).items), rows(model.at(top, '/c/')));
    const w = ctx.watch('/c/', point + 1);
    assert.deepEqual((await w.take(top - point)).map(eventLine), lines.slice(point - top));
    await w.expectQuiet(QUIET_MS);
    const next = created(await store.create('/c/6', enc('a6')), 'create after compaction');
    assert.equal(next.modRevision, top + 1);
    assert.deepEqual((await w.take(1)).map(eventLine), [putLine(next, undefined)]);
  });

  test('compaction keeps the latest value of keys written before the point', async ({ store }) => {
    const old = created(await store.create('/k/old', enc('old')), 'create old');
    const gone = created(await store.create('/k/gone', enc('gone')), 'create gone');
    const changed = created(await store.create('/k/changed', enc('c1')), 'create changed');
    const c2 = updated(await store.update('/k/changed', enc('c2'), changed.modRevision), 'update').kv;
    deleted(await store.delete('/k/gone', gone.modRevision), 'delete gone');
    for (let i = 0; i < 5; i++) created(await store.create(`/k/x${i}`, enc('x')), `x${i}`);
    const point = await store.currentRevision();
    await store.compact(point);

    assertKv(await store.get('/k/old'), old, 'an untouched key after compaction');
    assertKv(await store.get('/k/changed'), c2, 'an updated key after compaction');
    assert.equal(await store.get('/k/gone'), undefined, 'a deleted key came back after compaction');
    assert.equal(await store.count('/k/'), 7);
    assert.deepEqual(
      (await store.list('/k/')).items.map((kv) => kv.key),
      sortedKeys(['/k/old', '/k/changed', ...range(5).map((i) => `/k/x${i}`)]),
    );
    const u = updated(await store.update('/k/old', enc('new'), old.modRevision), 'update old');
    assert.equal(u.kv.createRevision, old.createRevision);
    assert.equal(u.kv.modRevision, point + 1);
    const re = created(await store.create('/k/gone', enc('again')), 'recreate gone');
    assert.equal(re.createRevision, point + 2);
    const d = deleted(await store.delete('/k/changed', c2.modRevision), 'delete changed');
    assertKv(d.prevKv, c2, 'prevKv of a delete after compaction');
  });

  test('a continue token whose revision was compacted fails with CompactedError', async ({ store }) => {
    for (let i = 0; i < 10; i++) created(await store.create(`/t/${i}`, enc('v')), `${i}`);
    const page1 = await store.list('/t/', { limit: 4 });
    assert.ok(page1.continue !== undefined);
    const kv = await store.get('/t/7');
    assert.ok(kv !== undefined);
    updated(await store.update('/t/7', enc('w'), kv.modRevision), 'update');
    created(await store.create('/t/99', enc('v')), 'create');
    const point = await store.currentRevision();
    await store.compact(point);
    const err = await rejection(store.list('/t/', { limit: 4, continue: page1.continue }));
    assertCompacted(err, page1.revision, point, 'list with a compacted continue token');
  });

  test('a caught-up watch keeps running across a compaction', async (ctx) => {
    const { store } = ctx;
    const base = await store.currentRevision();
    const w = ctx.watch('/l/', base + 1);
    for (let i = 0; i < 5; i++) created(await store.create(`/l/${i}`, enc('v')), `${i}`);
    await w.take(5);
    await store.compact(await store.currentRevision());
    const after: string[] = [];
    for (let i = 5; i < 8; i++)
      after.push(putLine(created(await store.create(`/l/${i}`, enc('v')), `${i}`), undefined));
    assert.deepEqual((await w.take(3)).map(eventLine), after);
  });
}

// ---------------------------------------------------------------------------------------------------
// slow watchers

function slowWatcherTests(test: Register): void {
  const BUFFER = 10;
  const TOTAL = 150;
  test(
    'a watcher that stops reading is dropped without slowing writers or other watchers',
    async (ctx) => {
      const { store } = ctx;
      const base = await store.currentRevision();
      const slow = ctx.watch('/s/', base + 1);
      const fast = ctx.watch('/s/', base + 1);
      const fastEvents = fast.take(TOTAL);
      fastEvents.catch(() => undefined); // awaited below; keeps an early failure from going unhandled

      const writes: string[] = [];
      const write = async (i: number): Promise<void> => {
        const kv = created(
          await withTimeout(store.create(`/s/${i}`, enc(`${i}`)), 2_000, `write ${i} (a stalled writer?)`),
          `create ${i}`,
        );
        writes.push(putLine(kv, undefined));
      };
      // The slow watcher reads the first event, so it is surely live, and then reads no more.
      await write(0);
      const received = await slow.take(1);
      const started = performance.now();
      for (let i = 1; i < TOTAL; i++) await write(i);
      const writeMs = performance.now() - started;

      assert.deepEqual((await fastEvents).map(eventLine), writes, 'the reading watcher');
      const { events, error } = await slow.expectError();
      received.push(...events);
      assert.ok(
        error instanceof WatcherDroppedError,
        `slow watcher ended with ${errorMessage(error)}, not WatcherDroppedError (${received.length} events received; ${TOTAL - 1} writes took ${Math.round(writeMs)} ms)`,
      );
      assert.equal(error.code, errorCodes.STORE_WATCHER_DROPPED);
      assert.ok(received.length < TOTAL, `slow watcher received all ${TOTAL} events before the drop`);
      assert.deepEqual(received.map(eventLine), writes.slice(0, received.length), 'events before the drop');
      assert.equal(
        error.lastRevision,
        at(received, received.length - 1).revision,
        'lastRevision is not the revision of the last event delivered',
      );
      // Re-watching from lastRevision + 1 loses nothing.
      const again = ctx.watch('/s/', error.lastRevision + 1);
      const rest = await again.take(TOTAL - received.length);
      assert.deepEqual([...received, ...rest].map(eventLine), writes, 'received + re-watched');
    },
    { watchBufferSize: BUFFER },
  );
}

// ---------------------------------------------------------------------------------------------------
// large values

function largeValueTests(test: Register): void {
  test('1 MiB values round-trip through create, update, get, list and watch', async (ctx) => {
    const { store } = ctx;
    const MiB = 1024 * 1024;
    const a = new Uint8Array(randomBytes(MiB));
    const b = new Uint8Array(randomBytes(MiB));
    const base = await store.currentRevision();
    const w = ctx.watch('/big/', base + 1);
    const kv = created(await store.create('/big/k', a), 'create 1 MiB');
    assertBytes(kv.value, a, 'create result');
    const got = await store.get('/big/k');
    assert.ok(got !== undefined);
    assertBytes(got.value, a, 'get');
    const r = updated(await store.update('/big/k', b, kv.modRevision), 'update 1 MiB');
    assertBytes(r.kv.value, b, 'update result');
    assertBytes(r.prevKv.value, a, 'prevKv of update');
    const listed = await store.list('/big/');
    assert.equal(listed.items.length, 1);
    assertBytes(at(listed.items, 0).value, b, 'list');
    const [e1, e2] = await w.take(2);
    assert.ok(e1?.type === 'PUT' && e2?.type === 'PUT');
    assertBytes(e1.kv.value, a, 'watch create event');
    assertBytes(e2.kv.value, b, 'watch update event');
    assert.ok(e2.prevKv !== undefined, 'update event without prevKv');
    assertBytes(e2.prevKv.value, a, 'watch update prevKv');
  });
}

// ---------------------------------------------------------------------------------------------------
// close

function closeTests(test: Register): void {
  test('after close() calls fail with STORE_UNAVAILABLE and open watches finish', async (ctx) => {
    const { store } = ctx;
    created(await store.create('/z/k', enc('v')), 'create');
    const w = ctx.watch('/z/', (await store.currentRevision()) + 1);
    const ending = w.expectEndOrError();
    await store.close();
    const { error } = await ending;
    if (error !== undefined) {
      assert.ok(
        error instanceof BerthError && error.code === errorCodes.STORE_UNAVAILABLE,
        `watch failed on close with ${errorMessage(error)}`,
      );
    }
    await assertRejectsCode(store.get('/z/k'), errorCodes.STORE_UNAVAILABLE, 'get after close');
    await assertRejectsCode(
      store.create('/z/n', enc('v')),
      errorCodes.STORE_UNAVAILABLE,
      'create after close',
    );
    await assertRejectsCode(store.list('/z/'), errorCodes.STORE_UNAVAILABLE, 'list after close');
    await store.close(); // idempotent
  });
}

// ---------------------------------------------------------------------------------------------------
// helpers

type Step =
  | { readonly kind: 'batch'; readonly events: readonly WatchEvent[] }
  | { readonly kind: 'done' }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'timeout' };

/**
 * Reads a watch with bounded waits, and checks on every event what holds for all of them: revisions
 * strictly increase from `fromRevision` (so no duplicates and no reordering), keys are under the
 * prefix, and an event is well-formed (a PUT's kv is at the event's revision, prevKv is older).
 */
class WatchReader {
  readonly #watch: Watch;
  readonly #iterator: AsyncIterator<readonly WatchEvent[]>;
  readonly #prefix: string;
  readonly #label: string;
  #lastRevision: number;
  #buffered: WatchEvent[] = [];
  #pending: Promise<Step> | undefined;
  #final: Step | undefined;

  constructor(watch: Watch, prefix: string, fromRevision: number) {
    this.#watch = watch;
    this.#iterator = watch[Symbol.asyncIterator]();
    this.#prefix = prefix;
    this.#label = `watch(${JSON.stringify(prefix)}, ${fromRevision})`;
    this.#lastRevision = fromRevision - 1;
  }

  close(): void {
    this.#watch.close();
  }

  /** The next `n` events; fails if they do not all arrive within `timeoutMs`. */
  async take(n: number, timeoutMs = EVENT_TIMEOUT_MS): Promise<WatchEvent[]> {
    const deadline = performance.now() + timeoutMs;
    while (this.#buffered.length < n) {
      const step = await this.#step(deadline - performance.now());
      const have = `${this.#buffered.length} of ${n} events (last revision ${this.#lastRevision})`;
      switch (step.kind) {
        case 'batch':
          this.#accept(step.events);
          break;
        case 'done':
          assert.fail(`${this.#label} ended after ${have}`);
          break;
        case 'error':
          throw new Error(`${this.#label} failed after ${have}: ${errorMessage(step.error)}`, {
            cause: step.error,
          });
        case 'timeout':
          assert.fail(`${this.#label} timed out after ${timeoutMs} ms with ${have}`);
      }
    }
    return this.#buffered.splice(0, n);
  }

  /** Fails if an event arrives within `ms`. */
  async expectQuiet(ms: number): Promise<void> {
    if (this.#buffered.length > 0) assert.fail(`${this.#label}: unexpected ${this.#describeBuffered()}`);
    const step = await this.#step(ms);
    if (step.kind === 'batch') {
      this.#accept(step.events);
      assert.fail(`${this.#label}: unexpected ${this.#describeBuffered()}`);
    }
    assert.equal(step.kind, 'timeout', `${this.#label} ended while expected to stay open`);
  }

  /** Reads until iteration ends; returns the events that came before the end. */
  async expectEnd(timeoutMs = EVENT_TIMEOUT_MS): Promise<WatchEvent[]> {
    const { events, error } = await this.expectEndOrError(timeoutMs);
    if (error !== undefined) {
      throw new Error(`${this.#label} threw instead of ending: ${errorMessage(error)}`, { cause: error });
    }
    return events;
  }

  /** Reads until iteration fails; returns the error and the events that came before it. */
  async expectError(timeoutMs = EVENT_TIMEOUT_MS): Promise<{ events: WatchEvent[]; error: unknown }> {
    const { events, error } = await this.expectEndOrError(timeoutMs);
    if (error === undefined) {
      assert.fail(`${this.#label} ended without an error after ${events.length} more events`);
    }
    return { events, error };
  }

  async expectEndOrError(timeoutMs = EVENT_TIMEOUT_MS): Promise<{ events: WatchEvent[]; error?: unknown }> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const step = await this.#step(deadline - performance.now());
      switch (step.kind) {
        case 'batch':
          this.#accept(step.events);
          break;
        case 'done':
          return { events: this.#buffered.splice(0) };
        case 'error':
          return { events: this.#buffered.splice(0), error: step.error };
        case 'timeout':
          assert.fail(
            `${this.#label} neither ended nor failed within ${timeoutMs} ms (${this.#describeBuffered()})`,
          );
      }
    }
  }

  async #step(timeoutMs: number): Promise<Step> {
    if (this.#final !== undefined) return this.#final;
    this.#pending ??= this.#iterator.next().then(
      (r): Step => (r.done === true ? { kind: 'done' } : { kind: 'batch', events: r.value }),
      (error: unknown): Step => ({ kind: 'error', error }),
    );
    const timer = new AbortController();
    const timeout = realClock.sleep(Math.max(0, timeoutMs), timer.signal).then(
      (): Step => ({ kind: 'timeout' }),
      (): Step => ({ kind: 'timeout' }),
    );
    try {
      const step = await Promise.race([this.#pending, timeout]);
      if (step.kind !== 'timeout') this.#pending = undefined;
      if (step.kind === 'done' || step.kind === 'error') this.#final = step;
      return step;
    } finally {
      timer.abort();
    }
  }

  #accept(events: readonly WatchEvent[]): void {
    for (const ev of events) {
      const where = `${this.#label}: event ${eventLine(ev)}`;
      assert.ok(
        ev.revision > this.#lastRevision,
        `${where} is out of order or duplicated (after revision ${this.#lastRevision})`,
      );
      this.#lastRevision = ev.revision;
      const key = ev.type === 'PUT' ? ev.kv.key : ev.key;
      assert.ok(key.startsWith(this.#prefix), `${where} is outside the prefix`);
      if (ev.type === 'PUT') {
        assert.equal(ev.kv.modRevision, ev.revision, `${where}: kv.modRevision is not the event revision`);
        assert.ok(ev.kv.createRevision <= ev.revision, `${where}: createRevision after the event`);
      }
      if (ev.prevKv !== undefined) {
        assert.equal(ev.prevKv.key, key, `${where}: prevKv of another key`);
        assert.ok(ev.prevKv.modRevision < ev.revision, `${where}: prevKv is not older than the event`);
      }
      this.#buffered.push(ev);
    }
  }

  #describeBuffered(): string {
    const shown = this.#buffered.slice(0, 5).map(eventLine).join('; ');
    return `${this.#buffered.length} buffered event(s)${shown === '' ? '' : `: ${shown}`}`;
  }
}

/** The error a watch on `from` fails with, whether `watch()` throws or its iteration does. */
async function watchFailure(ctx: TestContext, prefix: string, from: number): Promise<unknown> {
  let reader: WatchReader;
  try {
    reader = ctx.watch(prefix, from);
  } catch (err) {
    return err;
  }
  return (await reader.expectError()).error;
}

/** Current keys at each revision, as the test's own record of the writes it made in order. */
class Model {
  readonly #live = new Map<string, KeyValue>();
  readonly #snapshots: { revision: number; state: ReadonlyMap<string, KeyValue> }[] = [];

  put(kv: KeyValue): KeyValue {
    this.#live.set(kv.key, kv);
    this.#snapshot(kv.modRevision);
    return kv;
  }

  delete(key: string, revision: number): void {
    this.#live.delete(key);
    this.#snapshot(revision);
  }

  /** The keys under `prefix` at `revision`, in key order. */
  at(revision: number, prefix: string): KeyValue[] {
    let state: ReadonlyMap<string, KeyValue> = new Map();
    for (const s of this.#snapshots) if (s.revision <= revision) state = s.state;
    return [...state.values()]
      .filter((kv) => kv.key.startsWith(prefix))
      .sort((x, y) => compareKeys(x.key, y.key));
  }

  #snapshot(revision: number): void {
    const last = this.#snapshots.at(-1);
    assert.ok(last === undefined || revision > last.revision, 'model writes must come in revision order');
    this.#snapshots.push({ revision, state: new Map(this.#live) });
  }
}

function created(r: CreateResult, what: string): KeyValue {
  if (!r.ok) assert.fail(`${what}: expected success, got ${JSON.stringify(summary(r))}`);
  return r.kv;
}

function updated(r: UpdateResult, what: string): { kv: KeyValue; prevKv: KeyValue } {
  if (!r.ok) assert.fail(`${what}: expected success, got ${JSON.stringify(summary(r))}`);
  return r;
}

function deleted(r: DeleteResult, what: string): { revision: number; prevKv: KeyValue } {
  if (!r.ok) assert.fail(`${what}: expected success, got ${JSON.stringify(summary(r))}`);
  return r;
}

/** A result without its values, for comparisons and messages. */
function summary(r: CreateResult | UpdateResult | DeleteResult): Record<string, unknown> {
  if (r.ok) return { ok: true };
  return 'current' in r
    ? { ok: false, reason: r.reason, current: kvLine(r.current) }
    : { ok: false, reason: r.reason };
}

function assertKv(actual: KeyValue | undefined, expected: KeyValue, what: string): void {
  assert.ok(actual !== undefined, `${what}: no value, expected ${kvLine(expected)}`);
  assert.equal(actual.key, expected.key, `${what}: key`);
  assert.equal(actual.createRevision, expected.createRevision, `${what}: createRevision`);
  assert.equal(actual.modRevision, expected.modRevision, `${what}: modRevision`);
  assertBytes(actual.value, expected.value, `${what}: value`);
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.ok(actual instanceof Uint8Array, `${what}: value is not a Uint8Array`);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(e)) return;
  let i = 0;
  while (i < a.length && i < e.length && a[i] === e[i]) i++;
  assert.fail(
    `${what}: ${a.length} bytes differ from the expected ${e.length} at offset ${i}` +
      (a.length <= 64 && e.length <= 64 ? ` (got ${a.toString('hex')}, want ${e.toString('hex')})` : ''),
  );
}

function assertText(actual: Uint8Array, expected: string, what: string): void {
  assertBytes(actual, enc(expected), what);
}

function assertRemaining(actual: number | undefined, expected: number, what: string): void {
  if (actual === undefined) return;
  assert.equal(actual, expected, `${what}: remainingItemCount`);
}

function assertCompacted(err: unknown, requested: number, compacted: number, what: string): void {
  assert.ok(
    err instanceof CompactedError,
    `${what}: expected CompactedError, got ${err === undefined ? 'success' : errorMessage(err)}`,
  );
  assert.equal(err.code, errorCodes.STORE_COMPACTED, what);
  assert.equal(err.requestedRevision, requested, `${what}: requestedRevision`);
  assert.equal(err.compactedRevision, compacted, `${what}: compactedRevision`);
}

async function assertRejectsCode(p: Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
  const err = await rejection(p);
  assert.ok(
    err instanceof BerthError && err.code === code,
    `${what}: expected a BerthError ${code}, got ${err === undefined ? 'success' : errorMessage(err)}`,
  );
}

/** The rejection reason of `p`, or undefined if it resolves. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const timer = new AbortController();
  const timeout = realClock.sleep(ms, timer.signal).then(
    () => true,
    () => false,
  );
  try {
    const r = await Promise.race([p.then((value) => ({ value })), timeout]);
    if (r === true) assert.fail(`${what}: not done after ${ms} ms`);
    if (r === false) assert.fail(`${what}: timer aborted`);
    return r.value;
  } finally {
    timer.abort();
  }
}

function putLine(kv: KeyValue, prev: KeyValue | undefined): string {
  return `PUT@${kv.modRevision} ${kvLine(kv)} prev=${prev === undefined ? '-' : kvLine(prev)}`;
}

function deleteLine(revision: number, key: string, prev: KeyValue): string {
  return `DELETE@${revision} ${key} prev=${kvLine(prev)}`;
}

/** An event as one comparable line: type, revision, key, value, both revisions, and prevKv. */
function eventLine(ev: WatchEvent): string {
  return ev.type === 'PUT' ? putLine(ev.kv, ev.prevKv) : deleteLine(ev.revision, ev.key, ev.prevKv);
}

function kvLine(kv: KeyValue): string {
  return `${kv.key}=${valueText(kv.value)}@c${kv.createRevision}m${kv.modRevision}`;
}

function rows(items: readonly KeyValue[]): string[] {
  return items.map(kvLine);
}

/** A value as text when short and printable, else its length and a digest-like prefix. */
function valueText(v: Uint8Array): string {
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const s = b.toString('utf8');
  return b.length <= 64 && Buffer.from(s, 'utf8').equals(b) && !Array.from(s).some((c) => c < ' ')
    ? JSON.stringify(s)
    : `<${b.length} bytes ${b.subarray(0, 8).toString('hex')}>`;
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sortedKeys(keys: readonly string[]): string[] {
  return [...keys].sort(compareKeys);
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function dec(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function at<T>(items: readonly T[], i: number): T {
  const item = items[i];
  assert.ok(item !== undefined, `no item at index ${i} of ${items.length}`);
  return item;
}
