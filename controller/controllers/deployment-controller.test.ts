import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { FakeClock } from '../../lib/clock.js';
import { deploymentController } from './deployment-controller.js';
import { keyOf } from './informer.js';
import { updateObject } from './object-writes.js';
import { controllerRefOf } from './owner-references.js';
import { isPodActive, isPodReady } from './pod-readiness.js';
import { replicaSetController } from './replica-set-controller.js';
import { eventually, startControllerFixture, type ControllerFixture } from './testing/controller-fixture.js';
import {
  deploymentsResource,
  eventsAbout,
  getDeployment,
  markAllReady,
  markPodReady,
  podsOf,
  podsResource,
  replicaSetsOf,
  replicaSetsResource,
} from './testing/workload-simulation.js';
import type { Deployment, Pod, ReplicaSet } from './workload-objects.js';

interface Spec {
  replicas?: number;
  image?: string;
  strategy?: Record<string, unknown>;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  minReadySeconds?: number;
}

function deployment(name: string, spec: Spec = {}): StoredObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: spec.replicas ?? 3,
      selector: { matchLabels: { app: name } },
      ...(spec.strategy === undefined ? {} : { strategy: spec.strategy }),
      ...(spec.revisionHistoryLimit === undefined ? {} : { revisionHistoryLimit: spec.revisionHistoryLimit }),
      ...(spec.progressDeadlineSeconds === undefined
        ? {}
        : { progressDeadlineSeconds: spec.progressDeadlineSeconds }),
      ...(spec.minReadySeconds === undefined ? {} : { minReadySeconds: spec.minReadySeconds }),
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: spec.image ?? 'nginx:1.26' }] },
      },
    },
  };
}

const imageOf = (rs: ReplicaSet): string =>
  ((rs.spec.template?.spec?.['containers'] as { image: string }[] | undefined) ?? [])[0]?.image ?? '';
const revisionOf = (obj: StoredObject): string | undefined =>
  obj.metadata.annotations?.['deployment.kubernetes.io/revision'];

async function withDeployments(fn: (f: ControllerFixture, clock: FakeClock) => Promise<void>): Promise<void> {
  const clock = new FakeClock();
  const f = await startControllerFixture({
    controllers: [replicaSetController(), deploymentController()],
    clock,
  });
  try {
    await fn(f, clock);
  } finally {
    await f.close();
  }
}

async function changeDeployment(
  f: ControllerFixture,
  name: string,
  change: (d: Deployment) => void,
): Promise<void> {
  await updateObject(f.storage, deploymentsResource, { namespace: 'default', name }, (o) => {
    change(o as Deployment);
    return true;
  });
}

function setImage(f: ControllerFixture, name: string, image: string): Promise<void> {
  return changeDeployment(f, name, (d) => {
    const c = (d.spec.template?.spec?.['containers'] as { image: string }[])[0];
    if (c !== undefined) c.image = image;
  });
}

/** The deployment's ReplicaSet running `image`. */
async function replicaSetFor(
  f: ControllerFixture,
  d: StoredObject,
  image: string,
): Promise<ReplicaSet | undefined> {
  return (await replicaSetsOf(f.storage, d.metadata.uid ?? '')).find((rs) => imageOf(rs) === image);
}

/** The rollout is done as `kubectl rollout status` judges it, with the new pods on `image`. */
async function rolledOut(f: ControllerFixture, name: string, image: string): Promise<boolean> {
  const d = await getDeployment(f.storage, name);
  const s = d.status ?? {};
  const replicas = d.spec.replicas ?? 1;
  const newRS = await replicaSetFor(f, d, image);
  return (
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
    (s.updatedReplicas ?? 0) === replicas &&
    (s.replicas ?? 0) === replicas &&
    (s.availableReplicas ?? 0) === replicas &&
    newRS?.status?.replicas === replicas
  );
}

/** Plays the agents: marks pods ready as they appear until the rollout to `image` is complete. */
async function completeRollout(
  f: ControllerFixture,
  clock: FakeClock,
  name: string,
  image: string,
): Promise<void> {
  await eventually(
    `rollout of ${name} to ${image}`,
    async () => {
      const d = await getDeployment(f.storage, name);
      for (const rs of await replicaSetsOf(f.storage, d.metadata.uid ?? '')) {
        await markAllReady(f.storage, rs.metadata.uid ?? '', clock);
      }
      return rolledOut(f, name, image);
    },
    15_000,
  );
}

/** Active pods of the deployment `name`, grouped by their ReplicaSet's image. */
function podTracker(f: ControllerFixture, app: string) {
  const pods = new Map<string, Pod>();
  const informer = f.manager.informers.informerFor(podsResource);
  const checks: ((active: Pod[]) => string | undefined)[] = [];
  const violations: string[] = [];
  const check = (): void => {
    const active = [...pods.values()].filter((p) => isPodActive(p) && p.metadata.labels?.['app'] === app);
    for (const c of checks) {
      const v = c(active);
      if (v !== undefined) violations.push(v);
    }
  };
  const reg = informer.addEventHandler({
    onAdd: (p) => {
      pods.set(keyOf(p), p as Pod);
      check();
    },
    onUpdate: (_o, p) => {
      pods.set(keyOf(p), p as Pod);
      check();
    },
    onDelete: (p) => {
      pods.delete(keyOf(p));
      check();
    },
  });
  return {
    checks,
    violations,
    stop: () => {
      reg.remove();
    },
  };
}

describe('deployment controller', () => {
  it('creates a ReplicaSet per template, with hash, owner, annotations, pods and status', () =>
    withDeployments(async (f, clock) => {
      const d = await f.storage.create(deploymentsResource, 'default', deployment('web'));
      await eventually('rs and 3 pods', async () => {
        const [rs] = await replicaSetsOf(f.storage, d.metadata.uid ?? '');
        return rs !== undefined && (await podsOf(f.storage, rs.metadata.uid ?? '')).length === 3;
      });
      const [rs] = await replicaSetsOf(f.storage, d.metadata.uid ?? '');
      assert.ok(rs);
      const hash = rs.metadata.labels?.['pod-template-hash'] ?? '';
      assert.match(hash, /^[456789bcdf]{1,10}$/);
      assert.equal(rs.metadata.name, `web-${hash}`);
      assert.deepEqual(rs.metadata.labels, { app: 'web', 'pod-template-hash': hash });
      assert.deepEqual(rs.spec.selector, { matchLabels: { app: 'web', 'pod-template-hash': hash } });
      assert.deepEqual(rs.spec.template?.metadata?.labels, { app: 'web', 'pod-template-hash': hash });
      assert.deepEqual(rs.metadata.ownerReferences, [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: 'web',
          uid: d.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      assert.equal(rs.spec.replicas, 3);
      assert.equal(revisionOf(rs), '1');
      assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '3');
      assert.equal(
        rs.metadata.annotations['deployment.kubernetes.io/max-replicas'],
        '4',
        '3 + ceil(25% of 3)',
      );
      for (const pod of await podsOf(f.storage, rs.metadata.uid ?? '')) {
        assert.equal(pod.metadata.labels?.['pod-template-hash'], hash);
        assert.match(pod.metadata.name ?? '', new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      }
      await eventually('status before readiness', async () => {
        const s = (await getDeployment(f.storage, 'web')).status;
        return s?.replicas === 3 && s.unavailableReplicas === 3;
      });
      const before = await getDeployment(f.storage, 'web');
      assert.equal(revisionOf(before), '1');
      const avail = before.status?.conditions?.find((c) => c.type === 'Available');
      assert.equal(avail?.status, 'False');
      assert.equal(avail.reason, 'MinimumReplicasUnavailable');
      assert.equal(before.status?.conditions?.find((c) => c.type === 'Progressing')?.status, 'True');

      await completeRollout(f, clock, 'web', 'nginx:1.26');
      await eventually('complete conditions', async () => {
        const c = (await getDeployment(f.storage, 'web')).status?.conditions;
        return c?.find((x) => x.type === 'Progressing')?.reason === 'NewReplicaSetAvailable';
      });
      const after = await getDeployment(f.storage, 'web');
      const { conditions, ...counts } = after.status ?? {};
      assert.deepEqual(counts, {
        observedGeneration: 1,
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
      });
      assert.deepEqual(
        conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
        [
          ['Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'],
          [
            'Progressing',
            'True',
            'NewReplicaSetAvailable',
            `ReplicaSet "web-${hash}" has successfully progressed.`,
          ],
        ],
      );
      await f.manager.events.flush();
      assert.deepEqual(await eventsAbout(f.storage, 'web'), [
        `ScalingReplicaSet: Scaled up replica set web-${hash} to 3`,
      ]);
    }));

  it('scales the ReplicaSet with the deployment', () =>
    withDeployments(async (f, clock) => {
      const d = await f.storage.create(deploymentsResource, 'default', deployment('web'));
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      await changeDeployment(f, 'web', (x) => (x.spec.replicas = 5));
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      const [rs] = await replicaSetsOf(f.storage, d.metadata.uid ?? '');
      assert.equal(rs?.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '5');
      await changeDeployment(f, 'web', (x) => (x.spec.replicas = 1));
      await eventually('1 pod', async () => (await podsOf(f.storage, rs.metadata.uid ?? '')).length === 1);
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      await f.manager.events.flush();
      const events = await eventsAbout(f.storage, 'web');
      const name = rs.metadata.name ?? '';
      assert.ok(
        events.includes(`ScalingReplicaSet: Scaled up replica set ${name} to 5 from 3`),
        events.join('\n'),
      );
      assert.ok(
        events.includes(`ScalingReplicaSet: Scaled down replica set ${name} to 1 from 5`),
        events.join('\n'),
      );
    }));

  it('rolls out with maxSurge=1, maxUnavailable=0 only as new pods become ready, within bounds at every step', () =>
    withDeployments(async (f, clock) => {
      const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
      const d = await f.storage.create(deploymentsResource, 'default', deployment('web', { strategy }));
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      const tracker = podTracker(f, 'web');
      try {
        // Every state the store passes through: never more than 3 + 1 pods, never fewer than 3 - 0 ready.
        tracker.checks.push((active) => (active.length > 4 ? `${active.length} pods` : undefined));
        tracker.checks.push((active) => {
          const ready = active.filter((p) => isPodReady(p)).length;
          return ready < 3 ? `${ready} ready` : undefined;
        });
        await setImage(f, 'web', 'nginx:1.27');
        let rounds = 0;
        for (;;) {
          let waiting: Pod | undefined;
          await eventually('a new pod to mark ready, or the end', async () => {
            if (await rolledOut(f, 'web', 'nginx:1.27')) return true;
            const newRS = await replicaSetFor(f, d, 'nginx:1.27');
            const pods = newRS === undefined ? [] : await podsOf(f.storage, newRS.metadata.uid ?? '');
            waiting = pods.find((p) => !isPodReady(p));
            return waiting !== undefined;
          });
          if (waiting === undefined) break;
          // Blocked until we mark it: nothing moves in the meantime.
          const oldRS = await replicaSetFor(f, d, 'nginx:1.26');
          await new Promise((r) => setTimeout(r, 150));
          assert.equal(
            (await replicaSetFor(f, d, 'nginx:1.26'))?.spec.replicas,
            oldRS?.spec.replicas,
            'old RS waits',
          );
          assert.equal(oldRS?.spec.replicas, 3 - rounds);
          const all = await podsOf(f.storage, (await replicaSetFor(f, d, 'nginx:1.27'))?.metadata.uid ?? '');
          assert.equal(all.length, rounds + 1, 'one surge pod at a time');
          await markPodReady(f.storage, waiting, clock);
          rounds++;
          assert.ok(rounds <= 3, 'at most one round per replica');
        }
        assert.equal(rounds, 3);
        assert.deepEqual(tracker.violations, []);
        const oldRS = await replicaSetFor(f, d, 'nginx:1.26');
        const newRS = await replicaSetFor(f, d, 'nginx:1.27');
        assert.equal(oldRS?.spec.replicas, 0);
        assert.equal(revisionOf(newRS!), '2');
        assert.equal(revisionOf(await getDeployment(f.storage, 'web')), '2');
        await f.manager.events.flush();
        const events = await eventsAbout(f.storage, 'web');
        const o = oldRS.metadata.name ?? '';
        const n = newRS?.metadata.name ?? '';
        for (const e of [
          `Scaled up replica set ${n} to 1`,
          `Scaled down replica set ${o} to 2 from 3`,
          `Scaled up replica set ${n} to 2 from 1`,
          `Scaled down replica set ${o} to 1 from 2`,
          `Scaled up replica set ${n} to 3 from 2`,
          `Scaled down replica set ${o} to 0 from 1`,
        ]) {
          assert.ok(events.includes(`ScalingReplicaSet: ${e}`), `${e} in\n${events.join('\n')}`);
        }
      } finally {
        tracker.stop();
      }
    }));

  it('Recreate stops every old pod, waits for terminating ones, then starts the new ones', () =>
    withDeployments(async (f, clock) => {
      const d = await f.storage.create(
        deploymentsResource,
        'default',
        deployment('web', { replicas: 2, strategy: { type: 'Recreate' } }),
      );
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      const oldRS = await replicaSetFor(f, d, 'nginx:1.26');
      // One old pod holds a finalizer: it stays terminating after its deletion.
      const [held] = await podsOf(f.storage, oldRS?.metadata.uid ?? '');
      await updateObject(
        f.storage,
        podsResource,
        { namespace: 'default', name: held?.metadata.name ?? '' },
        (p) => {
          p.metadata.finalizers = ['example.com/hold'];
          return true;
        },
      );
      const tracker = podTracker(f, 'web');
      try {
        tracker.checks.push((active) => {
          const hashes = new Set(active.map((p) => p.metadata.labels?.['pod-template-hash']));
          return hashes.size > 1 ? `old and new pods at once: ${[...hashes].join(',')}` : undefined;
        });
        await setImage(f, 'web', 'nginx:1.27');
        await eventually(
          'old scaled to 0',
          async () => (await replicaSetFor(f, d, 'nginx:1.26'))?.spec.replicas === 0,
        );
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(
          await replicaSetFor(f, d, 'nginx:1.27'),
          undefined,
          'no new ReplicaSet while an old pod terminates',
        );
        await updateObject(
          f.storage,
          podsResource,
          { namespace: 'default', name: held?.metadata.name ?? '' },
          (p) => {
            delete p.metadata.finalizers;
            return true;
          },
        );
        await completeRollout(f, clock, 'web', 'nginx:1.27');
        assert.deepEqual(tracker.violations, []);
        const newRS = await replicaSetFor(f, d, 'nginx:1.27');
        await f.manager.events.flush();
        const events = await eventsAbout(f.storage, 'web');
        assert.ok(
          events.includes(
            `ScalingReplicaSet: Scaled down replica set ${oldRS?.metadata.name ?? ''} to 0 from 2`,
          ),
        );
        assert.ok(
          events.includes(`ScalingReplicaSet: Scaled up replica set ${newRS?.metadata.name ?? ''} to 2`),
        );
      } finally {
        tracker.stop();
      }
    }));

  it('rolls back the way kubectl rollout undo does: the old ReplicaSet becomes the newest revision', () =>
    withDeployments(async (f, clock) => {
      const d = await f.storage.create(deploymentsResource, 'default', deployment('web', { replicas: 2 }));
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      await setImage(f, 'web', 'nginx:1.27');
      await completeRollout(f, clock, 'web', 'nginx:1.27');
      const v1 = await replicaSetFor(f, d, 'nginx:1.26');
      assert.ok(v1);
      // kubectl 1.32 patches the template back (decoded into Go types and re-encoded: creationTimestamp
      // null, resources {}), and the annotations of that revision.
      const template = structuredClone(v1.spec.template ?? {});
      delete template.metadata?.labels?.['pod-template-hash'];
      const roundTripped = {
        ...template,
        metadata: { ...template.metadata, creationTimestamp: null },
        spec: {
          ...template.spec,
          containers: (template.spec?.['containers'] as object[]).map((c) => ({ ...c, resources: {} })),
        },
      };
      await changeDeployment(f, 'web', (x) => {
        x.spec.template = roundTripped;
      });
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      const sets = await replicaSetsOf(f.storage, d.metadata.uid ?? '');
      assert.equal(sets.length, 2, 'no third ReplicaSet: the old one was taken back');
      const back = await replicaSetFor(f, d, 'nginx:1.26');
      assert.equal(back?.metadata.uid, v1.metadata.uid);
      assert.equal(revisionOf(back!), '3');
      assert.equal(back?.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
      assert.equal((await replicaSetFor(f, d, 'nginx:1.27'))?.spec.replicas, 0);
      await eventually(
        'deployment revision',
        async () => revisionOf(await getDeployment(f.storage, 'web')) === '3',
      );
    }));

  it('restarts (template annotation) into a new ReplicaSet and keeps revisionHistoryLimit old ones', () =>
    withDeployments(async (f, clock) => {
      const d = await f.storage.create(
        deploymentsResource,
        'default',
        deployment('web', { replicas: 1, revisionHistoryLimit: 1 }),
      );
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      const first = (await replicaSetsOf(f.storage, d.metadata.uid ?? ''))[0];
      await changeDeployment(f, 'web', (x) => {
        x.spec.template!.metadata!.annotations = {
          'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z',
        };
      });
      await eventually(
        'restart RS',
        async () => (await replicaSetsOf(f.storage, d.metadata.uid ?? '')).length === 2,
      );
      const restarted = (await replicaSetsOf(f.storage, d.metadata.uid ?? '')).find(
        (rs) => rs.metadata.uid !== first?.metadata.uid,
      );
      assert.equal(imageOf(restarted!), 'nginx:1.26');
      assert.equal(
        restarted?.spec.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
        '2026-01-01T00:00:00Z',
      );
      assert.equal(revisionOf(restarted), '2');
      await eventually('restarted', async () => {
        await markAllReady(f.storage, restarted.metadata.uid ?? '', clock);
        return (await podsOf(f.storage, first?.metadata.uid ?? '')).length === 0;
      });
      for (const image of ['nginx:1.27', 'nginx:1.28']) {
        await setImage(f, 'web', image);
        await completeRollout(f, clock, 'web', image);
      }
      await eventually('history trimmed to 1 old ReplicaSet', async () => {
        const sets = await replicaSetsOf(f.storage, d.metadata.uid ?? '');
        return sets.length === 2;
      });
      const sets = await replicaSetsOf(f.storage, d.metadata.uid ?? '');
      assert.deepEqual(sets.map((rs) => revisionOf(rs)).sort(), ['3', '4']);
      assert.deepEqual(sets.map(imageOf).sort(), ['nginx:1.27', 'nginx:1.28']);
    }));

  it('paused: no new ReplicaSet for a new template, scaling still applies; resume rolls out', () =>
    withDeployments(async (f, clock) => {
      const d = await f.storage.create(deploymentsResource, 'default', deployment('web', { replicas: 2 }));
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      await changeDeployment(f, 'web', (x) => (x.spec.paused = true));
      await eventually('paused condition', async () => {
        const c = (await getDeployment(f.storage, 'web')).status?.conditions?.find(
          (x) => x.type === 'Progressing',
        );
        return (
          c?.status === 'Unknown' && c.reason === 'DeploymentPaused' && c.message === 'Deployment is paused'
        );
      });
      await setImage(f, 'web', 'nginx:1.27');
      await changeDeployment(f, 'web', (x) => (x.spec.replicas = 4));
      await eventually(
        'scaled while paused',
        async () => (await replicaSetFor(f, d, 'nginx:1.26'))?.spec.replicas === 4,
      );
      await eventually('observed', async () => {
        const x = await getDeployment(f.storage, 'web');
        return x.status?.observedGeneration === x.metadata.generation;
      });
      assert.equal(
        (await replicaSetsOf(f.storage, d.metadata.uid ?? '')).length,
        1,
        'no rollout while paused',
      );
      await changeDeployment(f, 'web', (x) => (x.spec.paused = false));
      await completeRollout(f, clock, 'web', 'nginx:1.27');
      assert.equal((await replicaSetFor(f, d, 'nginx:1.26'))?.spec.replicas, 0);
    }));

  it('reports ProgressDeadlineExceeded when a rollout makes no progress in time', () =>
    withDeployments(async (f, clock) => {
      await f.storage.create(
        deploymentsResource,
        'default',
        deployment('web', { replicas: 1, progressDeadlineSeconds: 30 }),
      );
      const progressing = async () =>
        (await getDeployment(f.storage, 'web')).status?.conditions?.find((c) => c.type === 'Progressing');
      // Settled: the pod exists (that was progress) and nothing else will move without readiness.
      await eventually('progressing', async () => {
        const s = (await getDeployment(f.storage, 'web')).status;
        return s?.updatedReplicas === 1 && s.replicas === 1 && (await progressing())?.status === 'True';
      });
      await new Promise((r) => setTimeout(r, 100));
      const last = await progressing();
      assert.equal(last?.reason, 'ReplicaSetUpdated');
      const deadline = Date.parse(last.lastUpdateTime ?? '') + 30_000;
      await clock.advance(deadline - clock.now() - 1_000);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await progressing())?.status, 'True', 'not yet');
      await clock.advance(2_001);
      await eventually(
        'deadline exceeded',
        async () => (await progressing())?.reason === 'ProgressDeadlineExceeded',
      );
      const c = await progressing();
      assert.equal(c?.status, 'False');
      assert.match(c.message ?? '', /^ReplicaSet "web-[456789bcdf]+" has timed out progressing\.$/);
      // Progress after the deadline: the rollout completes and says so.
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      await eventually('recovered', async () => (await progressing())?.reason === 'NewReplicaSetAvailable');
    }));

  it('adopts an orphan ReplicaSet matching its selector and template', () =>
    withDeployments(async (f, clock) => {
      const tpl = (deployment('web').spec as { template: object }).template;
      await f.storage.create(podsResource, 'default', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'unrelated', labels: { app: 'other' } },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      });
      const orphan = await f.storage.create(replicaSetsResource, 'default', {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'web-handmade', labels: { app: 'web' } },
        spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: tpl },
      });
      const d = await f.storage.create(deploymentsResource, 'default', deployment('web'));
      await completeRollout(f, clock, 'web', 'nginx:1.26');
      const sets = await replicaSetsOf(f.storage, d.metadata.uid ?? '');
      assert.deepEqual(
        sets.map((rs) => rs.metadata.uid),
        [orphan.metadata.uid],
      );
      assert.equal(controllerRefOf(sets[0]!)?.name, 'web');
    }));
});
