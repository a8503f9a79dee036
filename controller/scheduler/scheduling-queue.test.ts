import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../lib/clock.js';
import { podInfoOf } from './pod-info.js';
import { SchedulingQueue, type QueuedPod } from './scheduling-queue.js';
import { makePod } from './testing/fixtures.js';

const info = (name: string, spec: Parameters<typeof makePod>[1] = {}) => podInfoOf(makePod(name, spec));
const unsched = { unschedulable: true, plugins: new Set(['NodeResourcesFit']) } as const;

function popAll(q: SchedulingQueue): string[] {
  const out: string[] = [];
  for (let p = q.tryPop(); p !== undefined; p = q.tryPop()) out.push(p.info.name);
  return out;
}

describe('SchedulingQueue', () => {
  it('pops by priority, then first in first out', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.add(info('a'));
    await clock.advance(1);
    q.add(info('b', { priority: 10 }));
    await clock.advance(1);
    q.add(info('c'));
    q.add(info('d', { priority: 10 }));
    assert.deepEqual(popAll(q), ['b', 'd', 'a', 'c']);
  });

  it('backs off 1 s, 2 s, 4 s, 8 s, then 10 s', () => {
    const q = new SchedulingQueue({ clock: new FakeClock() });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => q.backoffDurationMs(n)),
      [1000, 2000, 4000, 8000, 10000, 10000],
    );
  });

  it('parks unschedulable pods and moves them back on a cluster event, respecting back-off', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock, moveDebounceMs: 50 });
    q.add(info('p'));
    const p = q.tryPop()!;
    q.requeue(p, unsched, q.schedulingCycle);
    assert.equal(q.where(p.key), 'unschedulable');
    await clock.advance(2000); // back-off (1 s) long over
    q.moveOnClusterEvent('NodeAdd');
    assert.equal(q.where(p.key), 'unschedulable', 'debounced');
    await clock.advance(50);
    assert.equal(q.where(p.key), 'active');
    assert.equal(q.tryPop()?.attempts, 2);
  });

  it('sends a moved pod still backing off to the back-off queue, then to active when it ends', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock, moveDebounceMs: 0 });
    q.add(info('p'));
    const p = q.tryPop()!;
    q.requeue(p, unsched, q.schedulingCycle);
    await clock.advance(300);
    q.moveOnClusterEvent('NodeAdd');
    assert.equal(q.where(p.key), 'backoff');
    await clock.advance(699);
    assert.equal(q.where(p.key), 'backoff');
    await clock.advance(1);
    assert.equal(q.where(p.key), 'active');
  });

  it('coalesces a burst of events into one move', async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    const q = new SchedulingQueue({
      clock,
      moveDebounceMs: 50,
      onIncoming: (queue, ev) => seen.push(`${queue}:${ev}`),
    });
    q.add(info('p'));
    q.requeue(q.tryPop()!, unsched, q.schedulingCycle);
    await clock.advance(5000);
    for (let i = 0; i < 10; i++) q.moveOnClusterEvent('NodeUpdate');
    await clock.advance(50);
    assert.deepEqual(seen, ['active:PodAdd', 'unschedulable:ScheduleAttemptFailure', 'active:NodeUpdate']);
  });

  it('moves only pods whose rejecting plugins care about a targeted event', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock, moveDebounceMs: 0 });
    q.add(info('cpu'));
    q.add(info('spread'));
    const a = q.tryPop()!;
    const b = q.tryPop()!;
    q.requeue(a, unsched, q.schedulingCycle);
    q.requeue(b, { unschedulable: true, plugins: new Set(['PodTopologySpread']) }, q.schedulingCycle);
    await clock.advance(5000);
    q.moveOnClusterEvent('AssignedPodAdd', new Set(['PodTopologySpread', 'InterPodAffinity']));
    assert.equal(q.where(a.key), 'unschedulable');
    assert.equal(q.where(b.key), 'active');
  });

  it('puts a pod in back-off instead of the pool when the cluster changed during its attempt', () => {
    const q = new SchedulingQueue({ clock: new FakeClock(), moveDebounceMs: 0 });
    q.add(info('p'));
    const p = q.tryPop()!;
    const cycle = q.schedulingCycle;
    q.moveOnClusterEvent('NodeAdd'); // arrives while p is being scheduled
    q.requeue(p, unsched, cycle);
    assert.equal(q.where(p.key), 'backoff');
  });

  it('sends errors to back-off', () => {
    const q = new SchedulingQueue({ clock: new FakeClock() });
    q.add(info('p'));
    const p = q.tryPop()!;
    q.requeue(p, { unschedulable: false, plugins: new Set() }, q.schedulingCycle);
    assert.equal(q.where(p.key), 'backoff');
  });

  it('retries pods left unschedulable for 5 minutes without any event', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.add(info('p'));
    const p = q.tryPop()!;
    q.requeue(p, unsched, q.schedulingCycle);
    await clock.advance(4 * 60_000);
    assert.equal(q.where(p.key), 'unschedulable');
    await clock.advance(60_000 + 30_000);
    assert.equal(q.where(p.key), 'active');
    assert.equal(clock.pendingTimers, 0, 'no timer left running once the pool is empty');
  });

  it('moves an unschedulable pod when its spec changes, not when only its status does', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.add(info('p', { cpu: '2' }));
    const p = q.tryPop()!;
    q.requeue(p, unsched, q.schedulingCycle);
    await clock.advance(5000);
    q.update(podInfoOf({ ...makePod('p', { cpu: '2' }), status: { phase: 'Pending' } }));
    assert.equal(q.where(p.key), 'unschedulable');
    q.update(info('p', { cpu: '1' }));
    assert.equal(q.where(p.key), 'active');
  });

  it('holds gated pods until their gates are gone', () => {
    const q = new SchedulingQueue({ clock: new FakeClock() });
    q.add(info('g', { schedulingGates: ['x'] }));
    assert.equal(q.where(info('g').key), 'gated');
    assert.equal(q.tryPop(), undefined);
    q.update(info('g'));
    assert.equal(q.tryPop()?.info.name, 'g');
  });

  it('drops a pod deleted while in flight instead of re-queueing it', () => {
    const q = new SchedulingQueue({ clock: new FakeClock() });
    q.add(info('p'));
    const p = q.tryPop()!;
    assert.equal(q.delete(p.key), true);
    assert.equal(q.deletedInFlight(p.key), true);
    q.requeue(p, unsched, q.schedulingCycle);
    assert.equal(q.where(p.key), undefined);
    assert.deepEqual(q.counts(), { active: 0, backoff: 0, unschedulable: 0, gated: 0 });
    assert.equal(q.inFlightCount, 0);
  });

  it('pop waits for a pod and returns undefined on close or abort', async () => {
    const q = new SchedulingQueue({ clock: new FakeClock() });
    const waiting = q.pop();
    q.add(info('late'));
    assert.equal((await waiting)?.info.name, 'late');
    const ac = new AbortController();
    const aborted = q.pop(ac.signal);
    ac.abort();
    assert.equal(await aborted, undefined);
    const closed: Promise<QueuedPod | undefined> = q.pop();
    q.close();
    assert.equal(await closed, undefined);
  });

  it('hands a waiting pop the highest-priority pod of a batch', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock, moveDebounceMs: 0 });
    for (const [n, prio] of [
      ['low', 0],
      ['high', 100],
    ] as const) {
      q.add(info(n, { priority: prio }));
    }
    const low = q.tryPop()!;
    const high = q.tryPop()!;
    q.requeue(low, unsched, q.schedulingCycle);
    q.requeue(high, unsched, q.schedulingCycle);
    await clock.advance(5000);
    const waiting = q.pop();
    q.moveOnClusterEvent('NodeAdd');
    assert.equal((await waiting)?.info.name, 'high');
  });
});
