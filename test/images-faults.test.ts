/**
 * Registry faults, injected by a proxy in front of a real docker-registry: a corrupted blob (digest
 * mismatch → clear error, nothing stored), a blob cut off midway (resumed with Range), a stalled blob
 * (no-progress timeout, then resumed), 503 with Retry-After and 429 (retried), a redirect to another
 * origin (followed, without our Authorization), and a mirror serving bad bytes (fallback to the
 * registry). After each failure the content store and snapshot directory hold nothing half-written.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseRegistriesConfig } from '../agent/images/registries-config.js';
import { makeImage, makeLayer, makeTar, pushImage, type Image } from './harness/images.js';
import { startFaultyProxy, type FaultyProxy } from './harness/faulty-proxy.js';
import { openTestImageService, type TestImageService } from './harness/image-service.js';
import { registryAvailable, startRegistry, type RegistryHandle } from './harness/registry.js';

const skip = registryAvailable();
if (skip !== undefined) console.log(`# skipping registry fault tests: ${skip}`);

/** Bytes that gzip poorly, so the blob is big enough to cut in the middle. */
function noise(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('registry faults', { skip }, () => {
  /** Undone in reverse order after the suite, whatever failed. */
  const cleanup: (() => Promise<void>)[] = [];
  let reg: RegistryHandle;
  let proxy: FaultyProxy;
  let img: Image;
  let layerDigest: string;
  const services: TestImageService[] = [];
  const open = async (...args: Parameters<typeof openTestImageService>): Promise<TestImageService> => {
    const s = await openTestImageService(...args);
    services.push(s);
    return s;
  };
  const ref = (): string => `${proxy.host}/berth/faulty:v1`;
  const isLayer = (path: string): boolean => path.includes(`/blobs/${layerDigest}`);

  /** Nothing half-written anywhere: no ingest files, no temp snapshot dirs, no layer blob. */
  function assertNothingStored(t: TestImageService): void {
    const images = join(t.root, 'images');
    assert.deepEqual(readdirSync(join(images, 'content', 'ingest')), []);
    assert.deepEqual(
      readdirSync(join(images, 'snapshots')).filter((n) => n.startsWith('tmp-')),
      [],
    );
    assert.deepEqual(
      readdirSync(join(images, 'content', 'blobs', 'sha256')).filter((n) => layerDigest.endsWith(n)),
      [],
    );
  }

  before(async () => {
    reg = await startRegistry({ mode: 'plain' });
    cleanup.push(() => reg.stop());
    img = makeImage([makeLayer(await makeTar([{ name: 'big', content: noise(600_000, 7) }]))]);
    layerDigest = img.layers[0]?.digest ?? '';
    assert.ok((img.layers[0]?.size ?? 0) > 500_000, 'the layer must not compress away');
    await pushImage(reg, 'berth/faulty', 'v1', img);
    proxy = await startFaultyProxy(reg.url);
    cleanup.push(() => proxy.close());
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
    for (const s of services) await s.close();
  });

  for (const unpackInWorkers of [false, true]) {
    it(`corrupted blob: digest mismatch error, nothing stored (${unpackInWorkers ? 'worker threads' : 'in-process'})`, async () => {
      const t = await open({ maxAttempts: 2, unpackInWorkers });
      proxy.setFaults((r) => (isLayer(r.path) ? { kind: 'corrupt' } : undefined));
      const r = await t.service.pull(ref());
      assert.equal(r.ok, false);
      assert.equal(r.reason, 'Failed');
      assert.match(r.message, /layer sha256:[0-9a-f]{64}: digest mismatch/);
      assertNothingStored(t);
      assert.equal((await t.service.list()).length, 0);
    });
  }

  it('blob cut off midway: resumed with Range', async () => {
    const t = await open();
    proxy.requests.length = 0;
    let cuts = 0;
    proxy.setFaults((r) =>
      isLayer(r.path) && r.range === undefined && cuts++ === 0
        ? { kind: 'cut', afterBytes: 200_000 }
        : undefined,
    );
    const r = await t.service.pull(ref());
    assert.ok(r.ok, r.ok ? '' : r.message);
    const ranges = proxy.requests.filter((x) => isLayer(x.path)).map((x) => x.range);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
    assert.ok(Number(/\d+/.exec(ranges[1] ?? '')?.[0]) > 0);
  });

  it('stalled blob: cut by the no-progress timeout, then resumed', async () => {
    const t = await open({ noProgressTimeoutMs: 400 });
    proxy.requests.length = 0;
    let stalls = 0;
    proxy.setFaults((r) =>
      isLayer(r.path) && stalls++ === 0 ? { kind: 'stall', afterBytes: 100_000 } : undefined,
    );
    const started = Date.now();
    const r = await t.service.pull(ref());
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.ok(Date.now() - started >= 400);
    assert.ok(proxy.requests.filter((x) => isLayer(x.path)).length >= 2);
  });

  it('a pull slower than the total timeout fails with a clear message and leaves nothing', async () => {
    const t = await open({ pullTimeoutMs: 700, noProgressTimeoutMs: 60_000 });
    proxy.setFaults((r) => (isLayer(r.path) ? { kind: 'stall', afterBytes: 100_000 } : undefined));
    const started = Date.now();
    const r = await t.service.pull(ref());
    assert.equal(r.ok, false);
    assert.match(r.message, /pull took longer than 1 s/);
    assert.ok(Date.now() - started < 10_000);
    assertNothingStored(t);
  });

  it('503 with Retry-After and 429 are retried', async () => {
    const t = await open();
    proxy.requests.length = 0;
    let n = 0;
    proxy.setFaults((r) => {
      if (!r.path.includes('/manifests/')) return undefined;
      n++;
      if (n === 1) return { kind: 'status', status: 503, headers: { 'retry-after': '1' } };
      if (n === 2) return { kind: 'status', status: 429 };
      return undefined;
    });
    const started = Date.now();
    const r = await t.service.pull(ref());
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.ok(Date.now() - started >= 1000, 'waited for Retry-After');
  });

  it('a registry that keeps failing gives a clear error after the retries', async () => {
    const t = await open({ maxAttempts: 3 });
    proxy.setFaults(() => ({ kind: 'status', status: 503 }));
    const r = await t.service.pull(ref());
    assert.equal(r.ok, false);
    assert.match(r.message, /HTTP 503/);
  });

  it('follows a redirect to another origin without sending our Authorization', async () => {
    const t = await open();
    proxy.requests.length = 0;
    proxy.setFaults((r) => (isLayer(r.path) ? { kind: 'redirect' } : undefined));
    const r = await t.service.pull(ref(), {
      credentials: new Map([[proxy.host, { registryToken: 'secret-token' }]]),
    });
    assert.ok(r.ok, r.ok ? '' : r.message);
    const main = proxy.requests.find((x) => x.origin === 'main' && isLayer(x.path));
    const redirected = proxy.requests.find((x) => x.origin === 'redirect');
    assert.equal(main?.authorization, 'Bearer secret-token');
    assert.ok(redirected !== undefined);
    assert.equal(redirected.authorization, undefined);
  });

  it('a mirror serving bad bytes falls back to the registry', async () => {
    const mirror = await startFaultyProxy(reg.url);
    try {
      mirror.setFaults((r) => (isLayer(r.path) ? { kind: 'corrupt' } : undefined));
      proxy.setFaults(() => undefined);
      const registries = await parseRegistriesConfig(
        `mirrors:\n  "${proxy.host}":\n    endpoint: ["http://${mirror.host}"]\n`,
      );
      const t = await open({ registries });
      proxy.requests.length = 0;
      const r = await t.service.pull(ref());
      assert.ok(r.ok, r.ok ? '' : r.message);
      assert.ok(
        mirror.requests.some((x) => isLayer(x.path)),
        'the mirror was asked first',
      );
      assert.ok(
        proxy.requests.some((x) => isLayer(x.path)),
        'then the registry',
      );
    } finally {
      await mirror.close();
    }
  });
});
