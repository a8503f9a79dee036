import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { FakeClock } from '../../lib/clock.js';
import { requireResource } from './informer-factory.js';
import { jobController, type JobControllerOptions } from './job-controller.js';
import { formatIndexes, jobTrackingFinalizer, parseIndexes } from './job-status.js';
import { updateObject } from './object-writes.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';

const pods = requireResource('', 'v1', 'pods');
const jobs = requireResource('batch', 'v1', 'jobs');
const events = requireResource('', 'v1', 'events');

function job(name: string, spec: Record<string, unknown>): StoredObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: {
      ...spec,
      template: {
        spec: { restartPolicy: 'Never', containers: [{ name: 'work', image: 'busybox:1.36' }] },
      },
    },
  };
}

async function withJobs(
  opts: JobControllerOptions,
  fn: (f: ControllerFixture, clock: FakeClock) => Promise<void>,
): Promise<void> {
  const clock = new FakeClock();
  const f = await startControllerFixture({ controllers: [jobController(opts)], clock });
  try {
    await fn(f, clock);
  } finally {
    await f.close();
  }
}

async function jobPods(f: ControllerFixture, name = 'work'): Promise<StoredObject[]> {
  const list = await f.storage.list(pods, 'default');
  return list.items.filter((p) => p.metadata.labels?.['batch.kubernetes.io/job-name'] === name);
}

async function running(f: ControllerFixture, name = 'work'): Promise<StoredObject[]> {
  return (await jobPods(f, name)).filter((p) => {
    const phase = (p.status as { phase?: string } | undefined)?.phase;
    return p.metadata.deletionTimestamp === undefined && phase !== 'Succeeded' && phase !== 'Failed';
  });
}

async function finish(f: ControllerFixture, p: StoredObject, phase: 'Succeeded' | 'Failed'): Promise<void> {
  await updateObject(
    f.storage,
    pods,
    { namespace: 'default', name: p.metadata.name ?? '', uid: p.metadata.uid },
    (x) => {
      x.status = { phase };
      return true;
    },
    { subresource: 'status' },
  );
}

async function jobStatus(f: ControllerFixture, name = 'work'): Promise<Record<string, unknown>> {
  return ((await f.find(jobs, 'default', name))?.status ?? {}) as Record<string, unknown>;
}

function conditions(s: Record<string, unknown>): string[] {
  const list = (s['conditions'] ?? []) as { type: string; status: string; reason?: string }[];
  return list.filter((c) => c.status === 'True').map((c) => `${c.type}/${c.reason ?? ''}`);
}

const settle = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Job controller', () => {
  it('completes with parallelism 2 and completions 4 as pods succeed', () =>
    withJobs({}, async (f) => {
      await f.storage.create(jobs, 'default', job('work', { parallelism: 2, completions: 4 }));
      await eventually('two pods', async () => (await running(f)).length === 2);
      await settle();
      assert.equal((await running(f)).length, 2, 'never more than parallelism');
      const first = await running(f);
      for (const p of first) {
        assert.deepEqual(p.metadata.finalizers, [jobTrackingFinalizer]);
        assert.equal(p.metadata.labels?.['job-name'], 'work');
        assert.ok(p.metadata.labels['controller-uid']);
        assert.ok(p.metadata.labels['batch.kubernetes.io/controller-uid']);
        assert.match(p.metadata.name ?? '', /^work-[a-z0-9]{5}$/);
      }
      await eventually('active 2, startTime', async () => {
        const s = await jobStatus(f);
        return s['active'] === 2 && typeof s['startTime'] === 'string';
      });
      for (const p of first) await finish(f, p, 'Succeeded');
      await eventually(
        'two more pods',
        async () => (await running(f)).length === 2 && (await jobStatus(f))['succeeded'] === 2,
      );
      for (const p of await running(f)) await finish(f, p, 'Succeeded');
      await eventually('complete', async () =>
        conditions(await jobStatus(f)).includes('Complete/CompletionsReached'),
      );
      const s = await jobStatus(f);
      assert.equal(s['succeeded'], 4);
      assert.equal(s['active'], undefined);
      assert.equal(s['failed'], undefined);
      assert.equal(s['uncountedTerminatedPods'], undefined);
      assert.ok(typeof s['completionTime'] === 'string');
      assert.deepEqual(conditions(s).sort(), [
        'Complete/CompletionsReached',
        'SuccessCriteriaMet/CompletionsReached',
      ]);
      const all = await jobPods(f);
      assert.equal(all.length, 4, 'no extra pods');
      assert.ok(
        all.every((p) => (p.metadata.finalizers ?? []).length === 0),
        'finalizers released',
      );
      await eventually('Completed event', async () => {
        const list = await f.storage.list(events, 'default');
        return list.items.some((e) => e['reason'] === 'Completed');
      });
    }));

  it('keeps counting a succeeded pod that is deleted (the tracking finalizer)', () =>
    withJobs({}, async (f) => {
      await f.storage.create(jobs, 'default', job('work', { parallelism: 1, completions: 2 }));
      await eventually('a pod', async () => (await running(f)).length === 1);
      const [p] = await running(f);
      assert.ok(p);
      await finish(f, p, 'Succeeded');
      await f.storage.delete(pods, 'default', p.metadata.name ?? '');
      await eventually(
        'counted, and then gone',
        async () =>
          (await jobStatus(f))['succeeded'] === 1 &&
          (await f.find(pods, 'default', p.metadata.name ?? '')) === undefined,
      );
      await eventually('the next pod', async () => (await running(f)).length === 1);
    }));

  it('fails once failures exceed backoffLimit, waiting the back-off between pods', () =>
    withJobs({ podFailureBackoffMs: 10_000 }, async (f, clock) => {
      await f.storage.create(
        jobs,
        'default',
        job('work', { parallelism: 1, completions: 1, backoffLimit: 1 }),
      );
      await eventually('a pod', async () => (await running(f)).length === 1);
      await finish(f, (await running(f))[0] as StoredObject, 'Failed');
      await eventually('failure counted', async () => (await jobStatus(f))['failed'] === 1);
      await settle();
      assert.equal((await running(f)).length, 0, 'back-off before the next pod');
      await clock.advance(10_000);
      await eventually('retried after 10 s', async () => (await running(f)).length === 1);
      await finish(f, (await running(f))[0] as StoredObject, 'Failed');
      await eventually('failed', async () =>
        conditions(await jobStatus(f)).includes('Failed/BackoffLimitExceeded'),
      );
      const s = await jobStatus(f);
      assert.equal(s['failed'], 2);
      assert.ok(conditions(s).includes('FailureTarget/BackoffLimitExceeded'));
      assert.equal(s['completionTime'], undefined);
      await clock.advance(60_000);
      await settle();
      assert.equal((await running(f)).length, 0, 'no pods after failing');
    }));

  it('fails at activeDeadlineSeconds, deleting its running pods', () =>
    withJobs({}, async (f, clock) => {
      await f.storage.create(
        jobs,
        'default',
        job('work', { parallelism: 3, completions: 3, activeDeadlineSeconds: 5 }),
      );
      await eventually('three pods', async () => (await running(f)).length === 3);
      await clock.advance(4000);
      await settle();
      assert.equal((await running(f)).length, 3);
      await clock.advance(1500);
      await eventually('failed', async () =>
        conditions(await jobStatus(f)).includes('Failed/DeadlineExceeded'),
      );
      assert.equal((await jobPods(f)).length, 0, 'unbound pods deleted at once');
      assert.equal((await jobStatus(f))['failed'], 3, 'deleted pods count as failed');
    }));

  it('suspends (deleting pods) and resumes (resetting startTime)', () =>
    withJobs({}, async (f, clock) => {
      await f.storage.create(jobs, 'default', job('work', { parallelism: 2, completions: 2 }));
      await eventually('two pods', async () => (await running(f)).length === 2);
      const started = (await jobStatus(f))['startTime'];
      await updateObject(f.storage, jobs, { namespace: 'default', name: 'work' }, (j) => {
        (j.spec as Record<string, unknown>)['suspend'] = true;
        return true;
      });
      await eventually(
        'suspended',
        async () =>
          conditions(await jobStatus(f)).includes('Suspended/JobSuspended') &&
          (await running(f)).length === 0,
      );
      await clock.advance(5000);
      await updateObject(f.storage, jobs, { namespace: 'default', name: 'work' }, (j) => {
        (j.spec as Record<string, unknown>)['suspend'] = false;
        return true;
      });
      await eventually('resumed', async () => (await running(f)).length === 2);
      const s = await jobStatus(f);
      assert.ok(!conditions(s).some((c) => c.startsWith('Suspended/')));
      assert.notEqual(s['startTime'], started);
    }));

  it('runs Indexed Jobs one pod per index and records completedIndexes', () =>
    withJobs({}, async (f) => {
      await f.storage.create(
        jobs,
        'default',
        job('work', { parallelism: 2, completions: 3, completionMode: 'Indexed' }),
      );
      await eventually('indexes 0 and 1', async () => {
        const ix = (await running(f)).map(
          (p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'],
        );
        return ix.sort().join() === '0,1';
      });
      const one = (await running(f)).find(
        (p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'] === '1',
      );
      assert.ok(one);
      assert.match(one.metadata.name ?? '', /^work-1-/);
      const env = (one.spec as { containers: { env?: { name: string; value: string }[] }[] }).containers[0]
        ?.env;
      assert.deepEqual(env, [{ name: 'JOB_COMPLETION_INDEX', value: '1' }]);
      await finish(f, one, 'Succeeded');
      await eventually('index 2 started, 1 recorded', async () => {
        const ix = (await running(f)).map(
          (p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'],
        );
        return ix.sort().join() === '0,2' && (await jobStatus(f))['completedIndexes'] === '1';
      });
      for (const p of await running(f)) await finish(f, p, 'Succeeded');
      await eventually('complete', async () =>
        conditions(await jobStatus(f)).includes('Complete/CompletionsReached'),
      );
      const s = await jobStatus(f);
      assert.equal(s['completedIndexes'], '0-2');
      assert.equal(s['succeeded'], 3);
    }));

  it('deletes a finished Job after ttlSecondsAfterFinished', () =>
    withJobs({}, async (f, clock) => {
      await f.storage.create(jobs, 'default', job('work', { completions: 1, ttlSecondsAfterFinished: 30 }));
      await eventually('a pod', async () => (await running(f)).length === 1);
      await finish(f, (await running(f))[0] as StoredObject, 'Succeeded');
      await eventually('complete', async () =>
        conditions(await jobStatus(f)).includes('Complete/CompletionsReached'),
      );
      await clock.advance(20_000);
      await settle();
      assert.ok(await f.find(jobs, 'default', 'work'));
      await clock.advance(11_000);
      await eventually('deleted', async () => {
        const j = await f.find(jobs, 'default', 'work');
        return j === undefined || j.metadata.deletionTimestamp !== undefined;
      });
    }));

  it('formats completedIndexes as intervals', () => {
    assert.equal(formatIndexes(new Set([0, 1, 2, 5, 7, 8])), '0-2,5,7-8');
    assert.deepEqual([...parseIndexes('0-2,5,7-8', 8)].sort(), [0, 1, 2, 5, 7]);
  });
});
