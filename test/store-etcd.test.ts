/**
 * Runs the `Store` conformance suite against `EtcdStore` on a real etcd, then the behaviour only the
 * etcd backend has: key namespacing inside a shared etcd, compaction done by someone else, etcd going
 * away under a watch, and the process being able to exit after `close()`.
 *
 * The suite expects a store that starts empty at revision 0 with contiguous revisions and its own
 * compaction point, and etcd's revisions and compaction are global, so every conformance test gets a
 * fresh etcd (~200 ms with the fast test flags) rather than a prefix in a shared one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { BerthError, CompactedError, errorCodes, errorMessage, type ErrorCode } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import { EtcdStore, openEtcdStore } from '../controller/store/etcd-store.js';
import type { CreateResult, KeyValue, UpdateResult, Watch, WatchEvent } from '../controller/store/store.js';
import { storeContractTests } from '../controller/store/testing/store-contract.js';
import { etcdAvailable, startEtcd, type EtcdHandle } from './harness/etcd.js';

const skip = etcdAvailable();

if (skip !== undefined) {
  void describe('EtcdStore', { skip }, () => undefined);
} else {
  storeContractTests('EtcdStore (contract)', async (opts) => {
    const etcd = await startEtcd({ name: 'berth-contract' });
    try {
      const store = await openEtcdStore({
        endpoints: [etcd.endpoint],
        prefix: '/berth-contract/',
        logger: silentLogger(),
        ...opts,
      });
      return {
        store,
        cleanup: async () => {
          try {
            await store.close();
          } finally {
            await etcd.stop();
          }
        },
      };
    } catch (err) {
      await etcd.stop();
      throw err;
    }
  });

  void describe('EtcdStore (etcd specifics)', () => {
    let etcd: EtcdHandle;
    const stores: EtcdStore[] = [];
    let prefixSeq = 0;

    /** A store in its own namespace of the shared etcd. */
    const open = async (opts: { prefix?: string; watchBufferSize?: number } = {}): Promise<EtcdStore> => {
      const store = await openEtcdStore({
        endpoints: [etcd.endpoint],
        prefix: opts.prefix ?? `/t${++prefixSeq}/`,
        logger: silentLogger(),
        ...(opts.watchBufferSize !== undefined ? { watchBufferSize: opts.watchBufferSize } : {}),
      });
      stores.push(store);
      return store;
    };

    before(async () => {
      etcd = await startEtcd({ name: 'berth-specifics' });
    });
    after(async () => {
      for (const s of stores) await s.close();
      await etcd.stop();
    });

    void it('keeps each store in its own namespace and hides the prefix', async () => {
      const a = await open({ prefix: '/tenant-a/' });
      const b = await open({ prefix: '/tenant-ab/' });
      const from = (await a.currentRevision()) + 1;
      const wa = a.watch('', from);
      try {
        ok(await a.create('/x', enc('a')));
        ok(await b.create('/x', enc('b')));
        ok(await b.create('/y', enc('b')));
        assert.equal(text((await a.get('/x'))?.value), 'a');
        assert.equal(text((await b.get('/x'))?.value), 'b');
        assert.equal(await a.get('/y'), undefined);
        assert.deepEqual(
          (await a.list('')).items.map((kv) => kv.key),
          ['/x'],
        );
        assert.equal(await a.count(''), 1);
        assert.equal(await b.count(''), 2);
        const events = await take(wa, 1);
        assert.deepEqual(events.map(line), ['PUT /x=a']);
        // The prefix is really in etcd's keys.
        const raw = new Etcd3({ hosts: etcd.endpoint });
        try {
          assert.equal(await raw.get('/tenant-a//x').string(), 'a');
          assert.equal(await raw.get('/tenant-ab//x').string(), 'b');
        } finally {
          raw.close();
        }
      } finally {
        wa.close();
      }
    });

    void it('finds a compaction made by another client, and refuses watches at that point', async () => {
      const mine = await open();
      const other = await open();
      let last = 0;
      for (let i = 0; i < 5; i++) last = ok(await mine.create(`/k${i}`, enc('v'))).modRevision;
      const before = await mine.compactedRevision();
      assert.ok(before < last);
      await other.compact(last - 1);
      // `mine` did not compact: it must find the point by asking etcd.
      assert.equal(await mine.compactedRevision(), last - 1);
      const err = await watchError(mine.watch('', last - 1));
      assert.ok(err instanceof CompactedError, `watch at the point: ${errorMessage(err)}`);
      assert.equal(err.compactedRevision, last - 1);
      const listErr = await rejection(mine.list('', { revision: last - 2 }));
      assert.ok(listErr instanceof CompactedError, `list below the point: ${errorMessage(listErr)}`);
      assert.equal(listErr.compactedRevision, last - 1);
      // Compacting to an older point than etcd's is a no-op, not an error.
      await mine.compact(last - 3);
      assert.equal(await mine.compactedRevision(), last - 1);
    });

    void it('closing watches does not disturb other watches or calls', async () => {
      // etcd3 resets every gRPC client of a host, and counts a failure towards its circuit breaker,
      // when a stream that is still writable errors; a careless cancel does exactly that.
      const store = await open();
      const from = (await store.currentRevision()) + 1;
      const keep = store.watch('', from);
      try {
        ok(await store.create('/c0', enc('v')));
        assert.equal((await take(keep, 1)).length, 1);
        const others = Array.from({ length: 5 }, () => store.watch('', from));
        for (const w of others) assert.equal((await take(w, 1)).length, 1);
        for (const w of others) w.close();
        assert.equal(await store.count(''), 1);
        ok(await store.create('/after', enc('v')));
        assert.deepEqual((await take(keep, 1)).map(line), ['PUT /after=v']);
      } finally {
        keep.close();
      }
    });

    void it('refuses values above the limit with STORE_INVALID and stays usable', async () => {
      const store = await open();
      await rejectsCode(store.create('/big', new Uint8Array(3 * 1024 * 1024)), errorCodes.STORE_INVALID);
      await rejectsCode(store.create('/big', new Uint8Array(1536 * 1024 + 1)), errorCodes.STORE_INVALID);
      // Just under our limit but over etcd's request limit once the key is added: etcd refuses it.
      await rejectsCode(store.create('/big', new Uint8Array(1536 * 1024)), errorCodes.STORE_INVALID);
      ok(await store.create('/small', enc('v')));
      assert.equal(await store.count(''), 1);
    });

    void it('update and conditional delete expecting revision 0 never create or match', async () => {
      const store = await open();
      const u = await store.update('/missing', enc('v'), 0);
      assert.deepEqual(u, { ok: false, reason: 'not-found' });
      const d = await store.delete('/missing', 0);
      assert.deepEqual(d, { ok: false, reason: 'not-found' });
      assert.equal(await store.get('/missing'), undefined);
      const kv = ok(await store.create('/k', enc('v')));
      const c = await store.update('/k', enc('w'), 0);
      assert.ok(!c.ok && c.reason === 'conflict' && c.current.modRevision === kv.modRevision);
    });
  });

  void describe('EtcdStore over TLS', { skip: opensslMissing() }, () => {
    void it('connects with a client certificate, and not without one', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'berth-etcd-tls-'));
      let etcd: EtcdHandle | undefined;
      let store: EtcdStore | undefined;
      try {
        const pki = makePki(dir);
        etcd = await startEtcd({
          name: 'berth-tls',
          tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.ca },
        });
        assert.match(etcd.endpoint, /^https:/);
        const ca = readFileSync(pki.ca);
        store = await openEtcdStore({
          endpoints: [etcd.endpoint],
          tls: { ca, cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) },
          logger: silentLogger(),
        });
        const w = store.watch('/', 1);
        try {
          ok(await store.create('/tls', enc('yes')));
          assert.equal(text((await store.get('/tls'))?.value), 'yes');
          assert.deepEqual((await take(w, 1)).map(line), ['PUT /tls=yes']);
        } finally {
          w.close();
        }
        await rejectsCode(
          openEtcdStore({
            endpoints: [etcd.endpoint],
            tls: { ca },
            requestTimeoutMs: 2000,
            logger: silentLogger(),
          }),
          errorCodes.STORE_UNAVAILABLE,
        );
        assert.throws(
          () => new EtcdStore({ endpoints: [etcd?.endpoint ?? ''] }),
          (err: unknown) => isCode(err, errorCodes.CONFIG_INVALID),
        );
      } finally {
        await store?.close();
        await etcd?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  void describe('EtcdStore when etcd goes away', () => {
    void it('fails an open watch and calls with STORE_UNAVAILABLE, and recovers when etcd returns', async () => {
      const dataDir = join(mkdtempSync(join(tmpdir(), 'berth-etcd-outage-')), 'data');
      const first = await startEtcd({ name: 'berth-outage', dataDir });
      let second: EtcdHandle | undefined;
      const store = await openEtcdStore({ endpoints: [first.endpoint], logger: silentLogger() });
      try {
        const w = store.watch('/', (await store.currentRevision()) + 1);
        const a = ok(await store.create('/a', enc('1')));
        assert.equal((await take(w, 1)).length, 1);
        await first.stop();
        const err = await watchError(w, 10_000);
        assert.ok(
          isCode(err, errorCodes.STORE_UNAVAILABLE),
          `watch after etcd stopped: ${errorMessage(err)}`,
        );
        await rejectsCode(store.get('/a'), errorCodes.STORE_UNAVAILABLE);

        // Same data and endpoint: the same store reconnects (once etcd3's circuit breaker half-opens,
        // 5 s after it opened) and a watch resumed from the last revision seen loses nothing.
        second = await startEtcd({ name: 'berth-outage', dataDir, clientPort: first.clientPort });
        const deadline = Date.now() + 20_000;
        for (;;) {
          try {
            assert.equal(text((await store.get('/a'))?.value), '1');
            break;
          } catch (e) {
            if (Date.now() > deadline) throw e;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        }
        const resumed = store.watch('/', a.modRevision + 1);
        try {
          const b = ok(await store.create('/b', enc('2')));
          assert.equal(b.modRevision, a.modRevision + 1);
          assert.deepEqual((await take(resumed, 1)).map(line), ['PUT /b=2']);
        } finally {
          resumed.close();
        }
      } finally {
        await store.close();
        await first.stop();
        await second?.stop();
        rmSync(dirname(dataDir), { recursive: true, force: true });
      }
    });

    void it('openEtcdStore rejects with STORE_UNAVAILABLE when nothing listens', async () => {
      const etcd = await startEtcd({ name: 'berth-gone' });
      await etcd.stop();
      const started = Date.now();
      await rejectsCode(
        openEtcdStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 2000, logger: silentLogger() }),
        errorCodes.STORE_UNAVAILABLE,
      );
      assert.ok(Date.now() - started < 10_000, 'took too long to give up');
    });

    void it('lets the process exit after close() with a watch open', async () => {
      const etcd = await startEtcd({ name: 'berth-exit' });
      try {
        const storeModule = fileURLToPath(new URL('../controller/store/etcd-store.ts', import.meta.url));
        const script = `
          import { openEtcdStore } from ${JSON.stringify(storeModule)};
          const store = await openEtcdStore({ endpoints: [${JSON.stringify(etcd.endpoint)}] });
          const w = store.watch('/', 1);
          await store.create('/k', new Uint8Array([1]));
          for await (const batch of w) { if (batch.length > 0) break; }
          store.watch('/', 1);
          await store.close();
          console.log('closed');
        `;
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        const code = await new Promise<number | null>((resolve) => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve(null);
          }, 15_000);
          child.once('exit', (c) => {
            clearTimeout(timer);
            resolve(c);
          });
        });
        assert.equal(code, 0, `child did not exit cleanly (code ${code}): ${output}`);
        assert.match(output, /closed/);
      } finally {
        await etcd.stop();
      }
    });
  });
}

function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl not found (needed to make test certificates)';
  }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`. */
function makePki(
  dir: string,
): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const p = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=berth-test-ca',
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(p(`${name}.ext`), ext);
    openssl(
      'req',
      ...ec,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
      '-subj',
      `/CN=berth-${name}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      p(`${name}.ext`),
    );
  }
  return {
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
  };
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function text(b: Uint8Array | undefined): string | undefined {
  return b === undefined ? undefined : Buffer.from(b).toString('utf8');
}

function ok(r: CreateResult | UpdateResult): KeyValue {
  if (!r.ok) assert.fail(`expected success, got ${JSON.stringify(r)}`);
  return r.kv;
}

function line(e: WatchEvent): string {
  return e.type === 'PUT' ? `PUT ${e.kv.key}=${text(e.kv.value)}` : `DELETE ${e.key}`;
}

function isCode(err: unknown, code: ErrorCode): boolean {
  return err instanceof BerthError && err.code === code;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return undefined;
}

async function rejectsCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await rejection(p);
  assert.ok(isCode(err, code), `expected ${code}, got ${err === undefined ? 'success' : errorMessage(err)}`);
}

/** The next `n` events of `w`, failing after `timeoutMs`. */
async function take(w: Watch, n: number, timeoutMs = 10_000): Promise<WatchEvent[]> {
  const it = w[Symbol.asyncIterator]();
  const got: WatchEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < n) {
    const r = await withDeadline(it.next(), deadline, `waiting for ${n} events, have ${got.length}`);
    if (r.done === true) assert.fail(`watch ended after ${got.length} of ${n} events`);
    got.push(...r.value);
  }
  return got;
}

/** Reads `w` until it throws; fails if it ends quietly or nothing happens within `timeoutMs`. */
async function watchError(w: Watch, timeoutMs = 10_000): Promise<unknown> {
  const it = w[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const r = await withDeadline(it.next(), deadline, 'waiting for the watch to fail');
      if (r.done === true) assert.fail('watch ended without an error');
    }
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return err;
  } finally {
    w.close();
  }
}

async function withDeadline<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        reject(new assert.AssertionError({ message: `timed out ${what}` }));
      },
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
