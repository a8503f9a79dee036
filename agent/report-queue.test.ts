import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMessage } from '../proto/gen/berth/v1/agent.js';
import { ReportQueue } from './report-queue.js';

const pod = (uid: string) => ({ namespace: 'default', name: `p-${uid}`, uid });

function summary(messages: AgentMessage[]): string[] {
  return messages.map((m) => {
    const k = m.kind;
    switch (k?.$case) {
      case 'podStatus':
        return `status ${k.podStatus.uid} ${(JSON.parse(k.podStatus.statusJson.toString()) as { phase: string }).phase}`;
      case 'podTerminated':
        return `terminated ${k.podTerminated.uid}`;
      case 'podEvent':
        return `event ${k.podEvent.podUid} ${k.podEvent.reason}`;
      default:
        return String(k?.$case);
    }
  });
}

describe('ReportQueue', () => {
  it('keeps only the newest status per pod, statuses before terminations before events', () => {
    const q = new ReportQueue();
    let notified = 0;
    q.onPending = () => notified++;
    q.status({ ...pod('a'), status: { phase: 'Pending' } });
    q.event({
      namespace: 'default',
      podName: 'p-a',
      podUid: 'a',
      type: 'Normal',
      reason: 'Started',
      message: '',
    });
    q.status({ ...pod('a'), status: { phase: 'Running' } });
    q.status({ ...pod('b'), status: { phase: 'Running' } });
    q.terminated(pod('c'));
    assert.equal(notified, 5);
    assert.deepEqual(summary(q.take(100)), [
      'status a Running',
      'status b Running',
      'terminated c',
      'event a Started',
    ]);
    assert.equal(q.pending, false);
  });

  it('takes at most the number asked for, leaving the rest pending', () => {
    const q = new ReportQueue();
    for (const uid of ['a', 'b', 'c']) q.status({ ...pod(uid), status: { phase: 'Running' } });
    assert.equal(q.take(2).length, 2);
    assert.equal(q.pending, true);
    assert.deepEqual(summary(q.take(2)), ['status c Running']);
  });

  it('sends the newest statuses and unconfirmed terminations again after a reconnect, until the pod is gone', () => {
    const q = new ReportQueue();
    q.status({ ...pod('a'), status: { phase: 'Running' } });
    q.status({ ...pod('b'), status: { phase: 'Running' } });
    q.terminated(pod('b'));
    q.take(100);
    q.requeueAll();
    assert.deepEqual(summary(q.take(100)), ['status a Running', 'terminated b']);
    q.forget('b');
    q.requeueAll();
    assert.deepEqual(summary(q.take(100)), ['status a Running']);
    q.retain(new Set(['x']));
    q.requeueAll();
    assert.deepEqual(q.take(100), []);
  });

  it('drops a terminated pod’s later statuses, and the oldest events beyond its bound', () => {
    const q = new ReportQueue({ maxEvents: 2 });
    q.terminated(pod('a'));
    q.status({ ...pod('a'), status: { phase: 'Running' } });
    for (const reason of ['one', 'two', 'three']) {
      q.event({ namespace: 'default', podName: 'p-a', podUid: 'a', type: 'Normal', reason, message: '' });
    }
    assert.deepEqual(summary(q.take(100)), ['terminated a', 'event a two', 'event a three']);
    assert.equal(q.droppedEvents, 1);
  });
});
