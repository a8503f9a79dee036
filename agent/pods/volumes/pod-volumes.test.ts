/**
 * Volumes and env through the real pod workers over the fake runtime: what the runtime is asked to
 * mount, CreateContainerConfigError for env the objects cannot satisfy, FailedMount holding a pod
 * back, refreshes on the pod's own turns, and teardown when the pod goes.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as macrotask } from 'node:timers/promises';
import type { StoredObject } from '../../../api/object.js';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/logger.js';
import { FakeObjectSource } from '../../object-source.js';
import { FakeImageService } from '../../runtime/fake/fake-image-service.js';
import { FakeRuntime } from '../../runtime/fake/fake-runtime.js';
import { FakePodNetwork } from '../fake-pod-network.js';
import { createPodManager, type PodManager } from '../pod-workers.js';
import { RecordingReporter } from '../testing/recording-reporter.js';

function at(v: unknown, ...path: (string | number)[]): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

function makePod(uid: string, spec: Record<string, unknown>): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${uid}`, namespace: 'default', uid, labels: { app: 'web' } },
    spec: { nodeName: 'node-1', restartPolicy: 'Always', ...spec },
  };
}

describe('pod workers with volumes and env objects', () => {
  let dir: string;
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let objects: FakeObjectSource;
  let reporter: RecordingReporter;
  let mgr: PodManager;

  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await macrotask();
    await mgr.idle();
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-pod-volumes-'));
    clock = new FakeClock();
    runtime = new FakeRuntime({ clock });
    objects = new FakeObjectSource();
    reporter = new RecordingReporter();
    objects.set({
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'default' },
      data: { greeting: 'hello' },
    });
    mgr = createPodManager({
      runtime,
      images: new FakeImageService({ clock }),
      network: new FakePodNetwork({ cidr: '10.244.1.0/24' }),
      reporter,
      clock,
      logger: silentLogger(),
      nodeName: 'node-1',
      objects,
      volumesDir: join(dir, 'pods'),
      volumeRefreshIntervalMs: 30_000,
      errorRetryMs: 5_000,
    });
  });
  afterEach(async () => {
    await mgr.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('mounts set-up volumes into containers, refreshes them on later turns, removes them on deletion', async () => {
    const pod = makePod('u1', {
      containers: [
        {
          name: 'app',
          image: 'busybox',
          env: [{ name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'greeting' } } }],
          volumeMounts: [
            { name: 'cfg', mountPath: '/etc/cfg' },
            { name: 'scratch', mountPath: '/scratch' },
            { name: 'cfg', mountPath: '/etc/greeting', subPath: 'greeting' },
          ],
        },
      ],
      volumes: [
        { name: 'cfg', configMap: { name: 'cfg' } },
        { name: 'scratch', emptyDir: {} },
      ],
    });
    mgr.update(pod);
    await settle();
    assert.equal(at(reporter.latest('u1'), 'phase'), 'Running');
    const [c] = await runtime.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': 'u1' } });
    const st = await runtime.containerStatus(c?.id ?? '');
    const cfgDir = join(dir, 'pods', 'u1', 'volumes', 'kubernetes.io~configmap', 'cfg');
    const [sub, ...rest] = [...(st?.mounts ?? [])].reverse();
    // A subPath into a configMap volume is the current version's file itself (no later updates, as in Kubernetes).
    assert.equal(sub?.containerPath, '/etc/greeting');
    assert.equal(sub.readonly, true);
    assert.match(sub.hostPath, /kubernetes\.io~configmap\/cfg\/\.\.[0-9_]+\.[0-9a-f]+\/greeting$/);
    assert.deepEqual(rest.reverse(), [
      { containerPath: '/etc/cfg', hostPath: cfgDir, readonly: true },
      {
        containerPath: '/scratch',
        hostPath: join(dir, 'pods', 'u1', 'volumes', 'kubernetes.io~empty-dir', 'scratch'),
      },
    ]);
    assert.equal(await readFile(join(cfgDir, 'greeting'), 'utf8'), 'hello');

    // The pod's own wake-up at the refresh interval picks up the change; no update from the API needed.
    objects.set({
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'default' },
      data: { greeting: 'bonjour' },
    });
    for (let i = 0; i < 31; i++) {
      await clock.advance(1000);
      await settle();
    }
    assert.equal(await readFile(join(cfgDir, 'greeting'), 'utf8'), 'bonjour');

    mgr.remove('u1');
    for (let i = 0; i < 40; i++) {
      await clock.advance(1000);
      await settle();
    }
    await assert.rejects(stat(join(dir, 'pods', 'u1')), { code: 'ENOENT' });
  });

  it('reports CreateContainerConfigError with the kubelet message for a missing ConfigMap or key', async () => {
    mgr.update(
      makePod('u2', {
        containers: [
          {
            name: 'a',
            image: 'busybox',
            env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }],
          },
          {
            name: 'b',
            image: 'busybox',
            env: [{ name: 'Y', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }],
          },
        ],
      }),
    );
    await settle();
    const s = reporter.latest('u2');
    assert.equal(at(s, 'phase'), 'Pending');
    assert.deepEqual(at(s, 'containerStatuses', 0, 'state', 'waiting'), {
      reason: 'CreateContainerConfigError',
      message: 'configmap "nope" not found',
    });
    assert.deepEqual(at(s, 'containerStatuses', 1, 'state', 'waiting'), {
      reason: 'CreateContainerConfigError',
      message: "couldn't find key k in ConfigMap default/cfg",
    });
    assert.ok(reporter.eventsOf('u2').includes('Failed: Error: configmap "nope" not found'));

    // Once the object appears, the retry starts the container.
    objects.set({ kind: 'ConfigMap', metadata: { name: 'nope', namespace: 'default' }, data: { k: 'v' } });
    for (let i = 0; i < 6; i++) {
      await clock.advance(1000);
      await settle();
    }
    assert.equal(at(reporter.latest('u2'), 'containerStatuses', 0, 'state', 'running') !== undefined, true);
  });

  it('holds a pod back with FailedMount while a volume cannot be set up', async () => {
    mgr.update(
      makePod('u3', {
        containers: [{ name: 'app', image: 'busybox' }],
        volumes: [{ name: 'sec', secret: { secretName: 'absent' } }],
      }),
    );
    await settle();
    const s = reporter.latest('u3');
    assert.equal(at(s, 'phase'), 'Pending');
    assert.equal(at(s, 'containerStatuses', 0, 'state', 'waiting', 'reason'), 'ContainerCreating');
    assert.deepEqual(reporter.eventsOf('u3'), [
      'FailedMount: MountVolume.SetUp failed for volume "sec" : secret "absent" not found',
    ]);
    assert.equal((await runtime.listPodSandboxes()).length, 0, 'no sandbox before the volumes are there');
  });
});
