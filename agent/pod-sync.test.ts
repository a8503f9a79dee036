import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../api/object.js';
import { silentLogger } from '../lib/logger.js';
import { ChangeType } from '../proto/gen/berth/v1/agent.js';
import type { DesiredPods } from './pods/pod-manager.js';
import { PodSync } from './pod-sync.js';
import { ReportQueue } from './report-queue.js';

function podJson(name: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', uid: `uid-${name}` },
    }),
  );
}

function recordingPods(): DesiredPods & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    sync: (pods: readonly StoredObject[]) => calls.push(`sync ${pods.map((p) => p.metadata.name).join(',')}`),
    update: (pod: StoredObject) => calls.push(`update ${pod.metadata.name ?? ''}`),
    remove: (uid: string) => calls.push(`remove ${uid}`),
  };
}

describe('PodSync', () => {
  it('turns snapshots and changes into sync/update/remove and tracks the revision', () => {
    const pods = recordingPods();
    const reports = new ReportQueue();
    const sync = new PodSync({ pods, reports, logger: silentLogger() });
    assert.equal(sync.revision, 0);
    sync.apply({
      kind: { $case: 'podSnapshot', podSnapshot: { podsJson: [podJson('a'), podJson('b')], revision: 10 } },
    });
    sync.apply({
      kind: {
        $case: 'podChange',
        podChange: { type: ChangeType.CHANGE_TYPE_UPSERT, podJson: podJson('c'), revision: 12 },
      },
    });
    sync.apply({
      kind: {
        $case: 'podChange',
        podChange: { type: ChangeType.CHANGE_TYPE_DELETE, podJson: podJson('a'), revision: 13 },
      },
    });
    assert.equal(sync.revision, 13);
    sync.apply({ kind: { $case: 'ping', ping: { revision: 20 } } });
    assert.equal(sync.revision, 20);
    sync.apply({ kind: { $case: 'ping', ping: { revision: 15 } } });
    assert.equal(sync.revision, 20, 'revisions never go back on a change or ping');
    assert.deepEqual(pods.calls, ['sync a,b', 'update c', 'remove uid-a']);
    // A snapshot is authoritative, even at a lower revision (the controller's store was replaced).
    sync.apply({ kind: { $case: 'podSnapshot', podSnapshot: { podsJson: [], revision: 3 } } });
    assert.equal(sync.revision, 3);
  });

  it('starts a resumed stream with a sync of the desired set it kept, then applies what was missed', () => {
    const pods = recordingPods();
    const sync = new PodSync({ pods, reports: new ReportQueue(), logger: silentLogger() });
    sync.streamStarted();
    sync.apply({
      kind: { $case: 'podSnapshot', podSnapshot: { podsJson: [podJson('a'), podJson('b')], revision: 10 } },
    });
    sync.apply({
      kind: {
        $case: 'podChange',
        podChange: { type: ChangeType.CHANGE_TYPE_DELETE, podJson: podJson('b'), revision: 11 },
      },
    });
    sync.apply({
      kind: {
        $case: 'podChange',
        podChange: { type: ChangeType.CHANGE_TYPE_UPSERT, podJson: podJson('c'), revision: 12 },
      },
    });
    sync.streamStarted();
    sync.apply({
      kind: {
        $case: 'podChange',
        podChange: { type: ChangeType.CHANGE_TYPE_UPSERT, podJson: podJson('d'), revision: 14 },
      },
    });
    sync.streamStarted();
    sync.apply({ kind: { $case: 'ping', ping: { revision: 15 } } });
    sync.streamStarted();
    sync.apply({ kind: { $case: 'podSnapshot', podSnapshot: { podsJson: [podJson('e')], revision: 16 } } });
    assert.deepEqual(pods.calls, [
      'sync a,b',
      'remove uid-b',
      'update c',
      'sync a,c',
      'update d',
      'sync a,c,d',
      'sync e',
    ]);
  });

  it('skips a pod that cannot be read, and forgets reports of pods that are gone', () => {
    const pods = recordingPods();
    const reports = new ReportQueue();
    reports.status({ namespace: 'default', name: 'a', uid: 'uid-a', status: { phase: 'Running' } });
    reports.status({ namespace: 'default', name: 'z', uid: 'uid-z', status: { phase: 'Running' } });
    reports.take(100);
    const sync = new PodSync({ pods, reports, logger: silentLogger() });
    sync.apply({
      kind: {
        $case: 'podSnapshot',
        podSnapshot: { podsJson: [podJson('a'), Buffer.from('{nope')], revision: 5 },
      },
    });
    assert.deepEqual(pods.calls, ['sync a']);
    reports.requeueAll();
    assert.deepEqual(
      reports.take(100).map((m) => (m.kind?.$case === 'podStatus' ? m.kind.podStatus.uid : '')),
      ['uid-a'],
    );
  });
});
