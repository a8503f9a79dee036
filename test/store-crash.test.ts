/**
 * Crash durability of `SqliteStore`: a child process (fixtures/store-crash-writer.ts) writes to a
 * database file, sequentially and then with many concurrent writers (so group commit is in play),
 * printing each write the store acknowledged; the test SIGKILLs it mid-flight, reopens the file and
 * checks that every acknowledged write is there with its value and revision, that at most one
 * unacknowledged write per writer landed (never a torn one), that the history replays, and that the
 * store goes on with larger revisions. Three rounds on the same file: crash, recover, crash again.
 *
 * SIGKILL leaves the OS page cache intact, so this proves "acknowledged only after commit", not
 * survival of power loss (that needs synchronous=FULL and a lazyfs-style fault, out of reach here).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { silentLogger } from '../lib/logger.js';
import { openSqliteStore } from '../controller/store/sqlite-store.js';
import type { KeyValue, Store, WatchEvent } from '../controller/store/store.js';
import {
  CONCURRENT_WRITERS,
  SEQUENTIAL_WRITES,
  crashValue,
  parseCrashValue,
  writerOps,
  type CrashAck,
  type CrashOp,
} from './fixtures/store-crash-writer.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const WRITER = fileURLToPath(new URL('./fixtures/store-crash-writer.ts', import.meta.url));
const ROUNDS = 3;

void describe('SqliteStore crash durability', () => {
  void it('keeps every acknowledged write across SIGKILL mid-flight', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-store-crash-'));
    const dbPath = join(dir, 'store.db');
    const allAcks: CrashAck[] = [];
    const settled = new Map<string, string[]>(); // round root → its rows as verified
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const root = `/crash/${round}`;
        // Kill after phase 1 and a few hundred phase-2 writes, at a different point each round.
        const killAfter = SEQUENTIAL_WRITES + 200 + Math.floor(Math.random() * 300);
        const acks = await runWriterUntil(dbPath, String(round), killAfter);
        assert.ok(acks.length >= killAfter, `round ${round}: only ${acks.length} acks`);
        allAcks.push(...acks);

        const store = openSqliteStore({ path: dbPath, logger: silentLogger() });
        try {
          await verifyRound(store, root, acks);
          for (const [otherRoot, rows] of settled) {
            assert.deepEqual(
              await snapshot(store, otherRoot),
              rows,
              `${otherRoot} changed in round ${round}`,
            );
          }
          settled.set(root, await snapshot(store, root));
          await verifyHistory(store, allAcks);

          const current = await store.currentRevision();
          const maxAcked = Math.max(...allAcks.map((a) => a.rev));
          assert.ok(
            current >= maxAcked,
            `currentRevision ${current} is below acknowledged revision ${maxAcked}`,
          );
          const probe = await store.create(`/crash/probe/${round}`, crashValue('probe'));
          assert.ok(probe.ok, 'the store refuses writes after recovery');
          assert.equal(probe.kv.modRevision, current + 1, 'the first write after recovery');
        } finally {
          await store.close();
        }
        const db = new Database(dbPath);
        try {
          assert.equal(
            db.pragma('integrity_check', { simple: true }),
            'ok',
            `round ${round}: integrity_check`,
          );
        } finally {
          db.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Starts the writer, SIGKILLs it once it has acknowledged `killAfter` writes, returns every ack. */
async function runWriterUntil(dbPath: string, round: string, killAfter: number): Promise<CrashAck[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dbPath, round], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acks: CrashAck[] = [];
  let partial = '';
  let stderr = '';
  let killed = false;
  const kill = (): void => {
    if (!killed) {
      killed = true;
      child.kill('SIGKILL');
    }
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) acks.push(JSON.parse(line) as CrashAck);
    if (acks.length >= killAfter) kill();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code, signal });
    });
  });
  const deadline = setTimeout(kill, 60_000);
  try {
    const { code, signal } = await exited;
    assert.equal(
      signal,
      'SIGKILL',
      `writer exited by itself (code ${code}) after ${acks.length} of ${killAfter} acks:\n${stderr}`,
    );
    assert.ok(
      acks.length >= killAfter,
      `writer was killed by the deadline after ${acks.length} acks:\n${stderr}`,
    );
    // A line cut short by the kill is not an ack; pipe writes of short lines are atomic anyway.
    return acks;
  } finally {
    clearTimeout(deadline);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Checks the round's keys against its acks: all acked writes, plus at most the next one per writer. */
async function verifyRound(store: Store, root: string, acks: readonly CrashAck[]): Promise<void> {
  // Phase 1 finished before the kill: exactly the sequential keys, in ack order.
  const seqAcks = acks.filter((a) => a.key.startsWith(`${root}/seq/`));
  assert.equal(seqAcks.length, SEQUENTIAL_WRITES, 'sequential acks');
  const seq = await store.list(`${root}/seq/`);
  assert.deepEqual(
    rows(seq.items),
    seqAcks.map((a) => expectedRow(a.key, 0, a.rev, a.rev)),
    'sequential writes after the crash',
  );

  let keysSeen = seq.items.length;
  for (let w = 0; w < CONCURRENT_WRITERS; w++) {
    const mine = acks.filter((a) => writerOf(root, a.key) === w);
    const ops = takeOps(writerOps(root, w), mine.length + 1);
    for (const [j, a] of mine.entries()) {
      const op = ops[j];
      assert.ok(
        op !== undefined && op.op === a.op && op.key === a.key,
        `writer ${w} ack ${j} is not its op ${j}`,
      );
      if (op.op === 'counter') assert.equal(a.op === 'counter' ? a.n : -1, op.n);
    }
    const counter = await store.get(`${root}/n/${w}`);
    const created = await store.list(`${root}/c/${w}/`);
    const actual = [...(counter === undefined ? [] : [counter]), ...created.items];
    keysSeen += actual.length;

    const lastRev = Math.max(0, ...mine.map((a) => a.rev));
    const acked = applyOps(mine.map((a, j) => ({ op: ops[j]!, rev: a.rev })));
    const inFlight = applyOps([
      ...mine.map((a, j) => ({ op: ops[j]!, rev: a.rev })),
      { op: ops[mine.length]! },
    ]);
    const problemsAcked = compareState(actual, acked, lastRev);
    if (problemsAcked.length === 0) continue;
    const problemsInFlight = compareState(actual, inFlight, lastRev);
    if (problemsInFlight.length === 0) continue;
    assert.fail(
      `writer ${w} (${mine.length} acks, last revision ${lastRev}) is neither at its last ack:\n  ` +
        problemsAcked.join('\n  ') +
        `\nnor one write later:\n  ${problemsInFlight.join('\n  ')}`,
    );
  }
  assert.equal(await store.count(`${root}/`), keysSeen, `keys under ${root} that no writer wrote`);
}

interface ExpectedKey {
  n: number;
  /** Undefined for the write that was in flight at the kill. */
  createRevision: number | undefined;
  modRevision: number | undefined;
}

function applyOps(ops: readonly { op: CrashOp; rev?: number }[]): Map<string, ExpectedKey> {
  const state = new Map<string, ExpectedKey>();
  for (const { op, rev } of ops) {
    switch (op.op) {
      case 'create':
        state.set(op.key, { n: 0, createRevision: rev, modRevision: rev });
        break;
      case 'counter': {
        const prev = state.get(op.key);
        state.set(op.key, {
          n: op.n,
          createRevision: prev === undefined ? rev : prev.createRevision,
          modRevision: rev,
        });
        break;
      }
      case 'delete':
        state.delete(op.key);
        break;
    }
  }
  return state;
}

/** Differences between what the store holds and `expected`; unknown revisions must be above `lastRev`. */
function compareState(
  actual: readonly KeyValue[],
  expected: ReadonlyMap<string, ExpectedKey>,
  lastRev: number,
): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const kv of actual) {
    seen.add(kv.key);
    const want = expected.get(kv.key);
    if (want === undefined) {
      problems.push(`${kv.key} is present (c${kv.createRevision} m${kv.modRevision}) but should not be`);
      continue;
    }
    const n = parseCrashValue(kv.key, kv.value);
    if (n !== want.n)
      problems.push(
        `${kv.key} holds ${n === undefined ? 'a torn or foreign value' : `n=${n}`}, expected n=${want.n}`,
      );
    const check = (what: string, got: number, rev: number | undefined): void => {
      if (rev === undefined ? got <= lastRev : got !== rev) {
        problems.push(`${kv.key} ${what} ${got}, expected ${rev ?? `> ${lastRev}`}`);
      }
    };
    check('createRevision', kv.createRevision, want.createRevision);
    check('modRevision', kv.modRevision, want.modRevision);
  }
  for (const key of expected.keys()) if (!seen.has(key)) problems.push(`${key} is missing`);
  return problems;
}

/** Every acknowledged write is in the history, at its revision (unless compacted away since). */
async function verifyHistory(store: Store, acks: readonly CrashAck[]): Promise<void> {
  const from = (await store.compactedRevision()) + 1;
  const until = await store.currentRevision();
  const events = new Map<number, WatchEvent>();
  const watch = store.watch('/crash/', from);
  const timer = setTimeout(() => {
    watch.close();
  }, 20_000);
  try {
    for await (const batch of watch) {
      for (const ev of batch) events.set(ev.revision, ev);
      if (batch.some((ev) => ev.revision >= until)) break;
    }
  } finally {
    clearTimeout(timer);
    watch.close();
  }
  for (const a of acks) {
    if (a.rev < from) continue;
    const ev = events.get(a.rev);
    assert.ok(ev !== undefined, `history has no event at acknowledged revision ${a.rev} (${a.op} ${a.key})`);
    assert.equal(ev.type, a.op === 'delete' ? 'DELETE' : 'PUT', `event at revision ${a.rev}`);
    assert.equal(ev.type === 'PUT' ? ev.kv.key : ev.key, a.key, `key of the event at revision ${a.rev}`);
  }
}

async function snapshot(store: Store, root: string): Promise<string[]> {
  return rows((await store.list(`${root}/`)).items);
}

function rows(items: readonly KeyValue[]): string[] {
  return items.map((kv) =>
    expectedRow(kv.key, parseCrashValue(kv.key, kv.value), kv.createRevision, kv.modRevision),
  );
}

function expectedRow(
  key: string,
  n: number | undefined,
  createRevision: number,
  modRevision: number,
): string {
  return `${key} n=${n ?? 'torn'} c${createRevision} m${modRevision}`;
}

/** The phase-2 writer that owns `key`, or undefined for other keys. */
function writerOf(root: string, key: string): number | undefined {
  const m = /^\/(?:n|c)\/(\d+)(?:\/|$)/.exec(key.slice(root.length));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function takeOps(ops: Iterator<CrashOp>, n: number): CrashOp[] {
  const out: CrashOp[] = [];
  while (out.length < n) {
    const r = ops.next();
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}
