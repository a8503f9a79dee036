import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { FakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { defaultSelectors } from '../apiserver/engines.js';
import { ResourceStorage } from '../apiserver/resource-storage.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import { EventBroadcaster } from './event-recorder.js';

const events = findResource('', 'v1', 'events') as ResourceInfo;
const namespaces = findResource('', 'v1', 'namespaces') as ResourceInfo;
const configmaps = findResource('', 'v1', 'configmaps') as ResourceInfo;

async function setup(
  maxPending?: number,
  limit?: { normalEventsPerSecond: number; normalEventBurst: number },
) {
  const clock = new FakeClock(Date.UTC(2026, 2, 1, 12, 0, 0));
  const store = openSqliteStore({ path: ':memory:' });
  const storage = new ResourceStorage({ store, clock, admission: defaultAdmission });
  await storage.create(namespaces, undefined, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'default' },
  });
  await storage.create(namespaces, undefined, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'apps' },
  });
  const broadcaster = new EventBroadcaster({
    storage,
    clock,
    logger: silentLogger(),
    host: 'node-1',
    ...(maxPending === undefined ? {} : { maxPending }),
    ...limit,
  });
  const cm = await storage.create(configmaps, 'apps', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'settings' },
  });
  const listEvents = async (fieldSelector?: string): Promise<StoredObject[]> => {
    const filter = defaultSelectors.filter(events, undefined, fieldSelector);
    return (await storage.list(events, undefined, filter === undefined ? {} : { filter })).items;
  };
  return { clock, store, storage, broadcaster, cm, listEvents };
}

describe('EventBroadcaster', () => {
  it('writes a core/v1 Event that kubectl describe finds by its field selector', async () => {
    const { store, broadcaster, cm, listEvents } = await setup();
    try {
      broadcaster.recorder('test-controller').event(cm, 'Normal', 'Configured', 'settings applied');
      await broadcaster.flush();
      // What kubectl describe sends for a namespaced object.
      const selector = `involvedObject.name=settings,involvedObject.namespace=apps,involvedObject.kind=ConfigMap,involvedObject.uid=${cm.metadata.uid ?? ''}`;
      const found = await listEvents(selector);
      assert.equal(found.length, 1);
      const ev = found[0] as StoredObject & Record<string, unknown>;
      assert.equal(ev.metadata.namespace, 'apps');
      assert.match(ev.metadata.name ?? '', /^settings\.[0-9a-f]+$/);
      assert.deepEqual(ev['involvedObject'], {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: 'apps',
        name: 'settings',
        uid: cm.metadata.uid,
        resourceVersion: cm.metadata.resourceVersion,
      });
      assert.equal(ev['reason'], 'Configured');
      assert.equal(ev['message'], 'settings applied');
      assert.equal(ev['type'], 'Normal');
      assert.deepEqual(ev['source'], { component: 'test-controller', host: 'node-1' });
      assert.equal(ev['count'], 1);
      assert.equal(ev['firstTimestamp'], '2026-03-01T12:00:00Z');
      assert.equal(ev['lastTimestamp'], '2026-03-01T12:00:00Z');
      assert.equal((await listEvents('involvedObject.name=other')).length, 0);
    } finally {
      await store.close();
    }
  });

  it('aggregates repeats by bumping count and lastTimestamp; a new message is a new Event', async () => {
    const { clock, store, broadcaster, cm, listEvents } = await setup();
    try {
      const rec = broadcaster.recorder('test-controller');
      rec.event(cm, 'Warning', 'Failed', 'could not do it');
      await broadcaster.flush();
      await clock.advance(60_000);
      rec.event(cm, 'Warning', 'Failed', 'could not do it');
      await broadcaster.flush();
      await clock.advance(60_000);
      // Two repeats queued before the writer runs are merged into one write.
      rec.event(cm, 'Warning', 'Failed', 'could not do it');
      rec.event(cm, 'Warning', 'Failed', 'could not do it');
      rec.event(cm, 'Warning', 'Failed', 'something else');
      await broadcaster.flush();
      const all = await listEvents();
      assert.equal(all.length, 2);
      const same = all.find((e) => e['message'] === 'could not do it') as Record<string, unknown>;
      assert.equal(same['count'], 4);
      assert.equal(same['firstTimestamp'], '2026-03-01T12:00:00Z');
      assert.equal(same['lastTimestamp'], '2026-03-01T12:02:00Z');
      const other = all.find((e) => e['message'] === 'something else') as Record<string, unknown>;
      assert.equal(other['count'], 1);
    } finally {
      await store.close();
    }
  });

  it('starts a new Event when the aggregated one was deleted', async () => {
    const { store, storage, broadcaster, cm, listEvents } = await setup();
    try {
      const rec = broadcaster.recorder('c');
      rec.event(cm, 'Normal', 'R', 'm');
      await broadcaster.flush();
      const [first] = await listEvents();
      await storage.delete(events, 'apps', first?.metadata.name ?? '');
      rec.event(cm, 'Normal', 'R', 'm');
      await broadcaster.flush();
      const after = await listEvents();
      assert.equal(after.length, 1);
      assert.equal(after[0]?.['count'], 1);
    } finally {
      await store.close();
    }
  });

  it('puts events about cluster-scoped objects in default, never blocks, and drops beyond its bound', async () => {
    const { store, broadcaster, listEvents } = await setup(2);
    try {
      const rec = broadcaster.recorder('c');
      const node = { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'u-n1' };
      // The writer takes the first at once; two more fit in the queue; the fourth is dropped.
      for (const reason of ['A', 'B', 'C', 'D']) rec.event(node, 'Normal', reason, 'x');
      await broadcaster.flush();
      const all = await listEvents('involvedObject.name=n1');
      assert.deepEqual(all.map((e) => e['reason']).sort(), ['A', 'B', 'C']);
      assert.ok(all.every((e) => e.metadata.namespace === 'default'));
    } finally {
      await store.close();
    }
  });

  it('logs instead of throwing when a write fails, and ignores events after close', async () => {
    const { store, broadcaster, listEvents } = await setup();
    try {
      const rec = broadcaster.recorder('c');
      rec.event({ kind: 'Pod', namespace: 'missing-ns', name: 'p', uid: 'u' }, 'Normal', 'R', 'm');
      await broadcaster.flush();
      await broadcaster.close();
      rec.event({ kind: 'Pod', namespace: 'default', name: 'p', uid: 'u' }, 'Normal', 'R', 'm');
      await broadcaster.flush();
      assert.equal((await listEvents()).length, 0);
    } finally {
      await store.close();
    }
  });
  it('rate-limits new Normal events (dropping the excess) but never Warnings', async () => {
    const { clock, store, broadcaster, listEvents } = await setup(undefined, {
      normalEventsPerSecond: 2,
      normalEventBurst: 3,
    });
    try {
      const rec = broadcaster.recorder('c');
      const pod = (i: number) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: 'apps',
        name: `p${i}`,
        uid: `u${i}`,
      });
      for (let i = 0; i < 6; i++) rec.event(pod(i), 'Normal', 'Scheduled', 'bound');
      rec.event(pod(9), 'Warning', 'FailedScheduling', 'no fit');
      await broadcaster.flush();
      let all = await listEvents();
      assert.deepEqual(all.map((e) => e.metadata.name?.split('.')[0]).sort(), ['p0', 'p1', 'p2', 'p9']);
      assert.equal(broadcaster.rateLimited, 3);
      await clock.advance(1000); // two more tokens
      for (let i = 10; i < 13; i++) rec.event(pod(i), 'Normal', 'Scheduled', 'bound');
      await broadcaster.flush();
      all = await listEvents();
      assert.equal(all.length, 6);
      assert.equal(broadcaster.rateLimited, 4);
    } finally {
      await store.close();
    }
  });
});
