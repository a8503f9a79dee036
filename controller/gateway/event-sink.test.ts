import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { FakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { ResourceStorage } from '../apiserver/resource-storage.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import { StorageEventSink, type EventRecord } from './event-sink.js';

const events = findResource('', 'v1', 'events') as ResourceInfo;
const namespaces = findResource('', 'v1', 'namespaces') as ResourceInfo;

function started(pod: string, type: EventRecord['type'] = 'Normal'): EventRecord {
  return {
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: 'apps', name: pod, uid: `uid-${pod}` },
    type,
    reason: type === 'Normal' ? 'Started' : 'BackOff',
    message: 'container app',
    source: { component: 'kubelet', host: 'node-1' },
    timestamp: Date.UTC(2026, 10, 1),
  };
}

describe('StorageEventSink', () => {
  it('writes one Event per record, rate-limits Normal events and never Warnings', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 1));
    const store = openSqliteStore({ path: ':memory:' });
    try {
      const storage = new ResourceStorage({ store, clock, admission: defaultAdmission });
      await storage.create(namespaces, undefined, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'apps' },
      });
      const sink = new StorageEventSink({
        storage,
        clock,
        logger: silentLogger(),
        normalEventsPerSecond: 1,
        normalEventBurst: 2,
      });
      for (const pod of ['a', 'b', 'c', 'd']) sink.record(started(pod));
      sink.record(started('e', 'Warning'));
      await sink.flush();
      const names = async (): Promise<string[]> =>
        (await storage.list(events, 'apps')).items.map((e) => e.metadata.name?.split('.')[0] ?? '').sort();
      assert.deepEqual(await names(), ['a', 'b', 'e']);
      assert.equal(sink.rateLimited, 2);
      await clock.advance(1000);
      sink.record(started('f'));
      sink.record(started('g'));
      await sink.flush();
      assert.deepEqual(await names(), ['a', 'b', 'e', 'f']);
      assert.equal(sink.rateLimited, 3);
    } finally {
      await store.close();
    }
  });
});
