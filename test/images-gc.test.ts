/**
 * Image GC and metrics with images pulled from a real registry: over the high threshold the least
 * recently used unused images go (with events) until the low threshold would be reached, images in
 * use stay, shared layers stay while another image needs them, and the kubelet-named metrics appear.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { ImageServiceEvent } from '../agent/images/local-image-service.js';
import { FakeClock } from '../lib/clock.js';
import { makeImage, makeLayer, makeTar, pushImage } from './harness/images.js';
import { openTestImageService, type TestImageService } from './harness/image-service.js';
import { registryAvailable, startRegistry, type RegistryHandle } from './harness/registry.js';

const skip = registryAvailable();
if (skip !== undefined) console.log(`# skipping image GC tests: ${skip}`);

describe('image garbage collection', { skip }, () => {
  /** Undone in reverse order after the suite, whatever failed. */
  const cleanup: (() => Promise<void>)[] = [];
  let reg: RegistryHandle;
  let t: TestImageService;
  const events: ImageServiceEvent[] = [];
  const metrics = new Registry();
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  let used = 0;
  // A tiny filesystem so that thresholds land on the size of these test images.
  const capacity = 2_000_000;

  before(async () => {
    reg = await startRegistry({ mode: 'plain' });
    cleanup.push(() => reg.stop());
    const base = makeLayer(await makeTar([{ name: 'base', content: Buffer.alloc(50_000, 9) }]));
    for (const name of ['one', 'two', 'three']) {
      const own = makeLayer(await makeTar([{ name, content: Buffer.alloc(100_000, name.length) }]));
      await pushImage(reg, `gc/${name}`, 'v1', makeImage([base, own]));
    }
    t = await openTestImageService({
      clock,
      metricsRegistry: metrics,
      onEvent: (e) => events.push(e),
      gcPolicy: { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 60_000 },
      orphanGraceMs: 0,
      durable: false,
      fsUsage: () => Promise.resolve({ capacityBytes: capacity, availableBytes: capacity - used }),
    });
    cleanup.push(() => t.close());
    for (const name of ['one', 'two', 'three']) {
      assert.ok((await t.service.pull(`${reg.host}/gc/${name}:v1`)).ok);
      await clock.advance(10 * 60_000);
    }
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('does nothing under the high threshold', async () => {
    used = 0.84 * capacity;
    const r = await t.service.garbageCollect();
    assert.equal(r.bytesToFree, 0);
    assert.equal((await t.service.list()).length, 3);
  });

  it('removes the least recently used unused image, keeps the one in use and the shared base layer', async () => {
    // "one" is the oldest but in use; "two" is next.
    assert.ok((await t.service.prepareRootfs(`${reg.host}/gc/one:v1`, 'ctr-one')).ok);
    // 85% used: free 5% = 100,000 bytes, which "two"'s own layer covers.
    used = 0.85 * capacity;
    const snapshotsBefore = readdirSync(join(t.root, 'images', 'snapshots')).length;
    const r = await t.service.garbageCollect();
    assert.ok(r.bytesToFree > 0);
    assert.deepEqual(
      r.removed.map((x) => x.references.find((ref) => !ref.includes('@'))),
      [`${reg.host}/gc/two:v1`],
    );
    assert.ok(r.freedBytes >= 100_000, `freed ${r.freedBytes}`);
    const left = (await t.service.list()).flatMap((i) => i.references.filter((ref) => !ref.includes('@')));
    assert.deepEqual(left.sort(), [`${reg.host}/gc/one:v1`, `${reg.host}/gc/three:v1`]);
    // Only "two"'s own layer went; the base layer is shared.
    assert.equal(readdirSync(join(t.root, 'images', 'snapshots')).length, snapshotsBefore - 1);
    assert.ok(events.some((e) => e.reason === 'ImageGarbageCollected' && e.message.includes('gc/two')));
  });

  it('warns when it cannot free enough', async () => {
    used = capacity;
    await t.service.garbageCollect();
    assert.ok(events.some((e) => e.type === 'Warning' && e.reason === 'FreeDiskSpaceFailed'));
    // "one" is still in use and survives everything.
    assert.ok(await t.service.status(`${reg.host}/gc/one:v1`));
  });

  it('exports kubelet-named metrics', async () => {
    const text = await metrics.metrics();
    assert.match(text, /kubelet_image_pull_duration_seconds_count\{image_size_in_bytes="0-10MB"\} 3/);
    assert.match(text, /kubelet_image_garbage_collected_total [1-9]/);
    assert.match(text, /berth_image_pull_bytes_total [1-9]/);
    assert.match(text, /berth_imagefs_capacity_bytes 2000000/);
    assert.match(text, /berth_images [0-9]/);
  });
});
