/**
 * B8 — durable state-store writes (shared/reference/performance-anchors.md).
 *
 * Creates ~1.5 KB objects, each acknowledged only once durable, with 1 and 64 concurrent writers,
 * against: Berth's embedded SQLite store, Berth's etcd backend, and — the baseline — a real etcd 3.4
 * started in this same run and driven through its JSON gateway (`/v3/kv/put`, keep-alive HTTP), the
 * client the reference figures (364/s and 2,722/s on this box) were measured with.
 * Each configuration runs ROUNDS times; medians are printed. Usage:
 *   npm run bench -- store [--rounds N] [--ops-1 N] [--ops-64 N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openEtcdStore } from '../controller/store/etcd-store.js';
import { openSqliteStore } from '../controller/store/sqlite-store.js';
import type { Store } from '../controller/store/store.js';
import { etcdAvailable, startEtcd, type EtcdHandle } from '../test/harness/etcd.js';
import { median, printTable, runConcurrent, type RunResult } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'ops-1': { type: 'string', default: '1500' },
    'ops-64': { type: 'string', default: '12000' },
  },
});
const rounds = Number(args.rounds);
const opsFor = (c: number): number => Number(c === 1 ? args['ops-1'] : args['ops-64']);
const VALUE = new Uint8Array(1536).fill(0x61);

interface Target {
  name: string;
  open(): Promise<{ put(key: string): Promise<void>; close(): Promise<void> }>;
}

function storeTarget(name: string, make: () => Promise<Store>): Target {
  return {
    name,
    open: async () => {
      const store = await make();
      return {
        put: async (key) => {
          const r = await store.create(key, VALUE);
          if (!r.ok) throw new Error(`create ${key}: ${r.reason}`);
        },
        close: () => store.close(),
      };
    },
  };
}

/** A plain etcd v3 JSON-gateway client: the baseline, with nothing of Berth in the path. */
function rawEtcdTarget(endpoint: string): Target {
  const url = new URL(endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const value64 = Buffer.from(VALUE).toString('base64');
  return {
    name: 'etcd 3.4 (raw JSON gateway)',
    open: () =>
      Promise.resolve({
        put: (key) =>
          new Promise<void>((resolve, reject) => {
            const body = JSON.stringify({ key: Buffer.from(key).toString('base64'), value: value64 });
            const req = request(
              { host: url.hostname, port: url.port, path: '/v3/kv/put', method: 'POST', agent },
              (res) => {
                res.resume();
                res.on('end', () => {
                  if (res.statusCode === 200) resolve();
                  else reject(new Error(`etcd put: HTTP ${res.statusCode ?? '?'}`));
                });
              },
            );
            req.on('error', reject);
            req.end(body);
          }),
        close: () => Promise.resolve(),
      }),
  };
}

async function measure(target: Target, concurrency: number, round: number): Promise<RunResult> {
  const t = await target.open();
  try {
    // Warm-up: connections, statement caches, first fsyncs.
    await runConcurrent(concurrency, Math.min(200, opsFor(concurrency)), (w, i) =>
      t.put(`/warm/${round}/${w}/${i}`),
    );
    return await runConcurrent(concurrency, opsFor(concurrency), (w, i) =>
      t.put(`/bench/${round}/${w}/${i}`),
    );
  } finally {
    await t.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-store-'));
  let etcd: EtcdHandle | undefined;
  const targets: Target[] = [
    storeTarget('berth sqlite (embedded)', () =>
      Promise.resolve(
        openSqliteStore({ path: join(dir, `sqlite-${Math.random().toString(36).slice(2)}.db`) }),
      ),
    ),
  ];
  const skip = etcdAvailable();
  if (skip === undefined) {
    etcd = await startEtcd({ name: 'berth-bench' });
    const endpoint = etcd.endpoint;
    targets.push(rawEtcdTarget(endpoint));
    targets.push(
      storeTarget('berth etcd backend (etcd3 gRPC)', () =>
        openEtcdStore({ endpoints: [endpoint], prefix: `/b${Math.random().toString(36).slice(2)}` }),
      ),
    );
  } else {
    console.log(`etcd baseline skipped: ${skip}`);
  }
  try {
    console.log(`B8 durable writes, 1.5 KB values, ${rounds} rounds each, medians shown`);
    const rows: string[][] = [];
    const byKey = new Map<string, number>();
    for (const concurrency of [1, 64]) {
      for (const target of targets) {
        const results: RunResult[] = [];
        for (let r = 0; r < rounds; r++) results.push(await measure(target, concurrency, r));
        const perSecond = median(results.map((x) => x.perSecond));
        byKey.set(`${target.name}@${concurrency}`, perSecond);
        rows.push([
          target.name,
          String(concurrency),
          perSecond.toFixed(0),
          median(results.map((x) => x.p50Ms)).toFixed(2),
          median(results.map((x) => x.p99Ms)).toFixed(2),
        ]);
      }
    }
    printTable(['store', 'writers', 'writes/s', 'p50 ms', 'p99 ms'], rows);
    for (const concurrency of [1, 64]) {
      const ours = byKey.get(`berth sqlite (embedded)@${concurrency}`);
      const base = byKey.get(`etcd 3.4 (raw JSON gateway)@${concurrency}`);
      if (ours !== undefined && base !== undefined) {
        console.log(`ratio sqlite/etcd at ${concurrency} writer(s): ${(ours / base).toFixed(2)}x`);
      }
    }
  } finally {
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
