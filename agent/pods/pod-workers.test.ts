import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setImmediate as macrotask } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { FakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import type { StoredObject } from '../../api/object.js';
import { FakeRuntime } from '../runtime/fake/fake-runtime.js';
import { FakeImageService } from '../runtime/fake/fake-image-service.js';
import { fakeAnnotations } from '../runtime/fake/fake-script.js';
import { FakePodNetwork } from './fake-pod-network.js';
import { createPodManager, type PodManager, type PodManagerOptions } from './pod-workers.js';
import { RecordingReporter } from './testing/recording-reporter.js';

/** Reads a nested field of a JSON value: `at(status, 'containerStatuses', 0, 'ready')`. */
function at(v: unknown, ...path: (string | number)[]): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function condition(status: unknown, type: string): unknown {
  const list = at(status, 'conditions');
  return Array.isArray(list) ? (list as unknown[]).find((c) => at(c, 'type') === type) : undefined;
}

interface PodInput {
  name?: string;
  uid?: string;
  annotations?: Record<string, string>;
  spec?: Record<string, unknown>;
  containers?: Record<string, unknown>[];
  initContainers?: Record<string, unknown>[];
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
}

function makePod(p: PodInput = {}): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name ?? 'web-1',
      namespace: 'default',
      uid: p.uid ?? randomUUID(),
      labels: { app: 'web' },
      ...(p.annotations !== undefined ? { annotations: p.annotations } : {}),
      ...(p.deletionTimestamp !== undefined ? { deletionTimestamp: p.deletionTimestamp } : {}),
      ...(p.deletionGracePeriodSeconds !== undefined
        ? { deletionGracePeriodSeconds: p.deletionGracePeriodSeconds }
        : {}),
    },
    spec: {
      nodeName: 'node-1',
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      containers: p.containers ?? [{ name: 'app', image: 'busybox:1.36', imagePullPolicy: 'IfNotPresent' }],
      ...(p.initContainers !== undefined ? { initContainers: p.initContainers } : {}),
      ...p.spec,
    },
  };
}

function deleted(pod: StoredObject, graceSeconds?: number): StoredObject {
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      deletionTimestamp: '2026-01-01T00:00:00Z',
      deletionGracePeriodSeconds: graceSeconds ?? 30,
    },
  };
}

function uidOf(pod: StoredObject): string {
  return pod.metadata.uid ?? '';
}

function setup(
  over: Partial<PodManagerOptions> = {},
  shared?: { clock: FakeClock; runtime: FakeRuntime; images: FakeImageService; network: FakePodNetwork },
) {
  const clock = shared?.clock ?? new FakeClock();
  const runtime = shared?.runtime ?? new FakeRuntime({ clock });
  const images = shared?.images ?? new FakeImageService({ clock });
  const network = shared?.network ?? new FakePodNetwork({ cidr: '10.244.1.0/24' });
  const reporter = new RecordingReporter();
  const registry = new Registry();
  const mgr: PodManager = createPodManager({
    runtime,
    images,
    network,
    reporter,
    clock,
    logger: silentLogger(),
    registry,
    nodeName: 'node-1',
    nodeIP: '192.168.0.10',
    ...over,
  });
  // Turns waiting on the fake clock (pulls, stops) stay pending: settle only drains what can run now.
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await macrotask();
  };
  /** Moves the clock in steps of `step` ms, letting every turn finish between steps. */
  const advance = async (ms: number, step = 1000): Promise<void> => {
    for (let t = 0; t < ms; t += step) {
      await clock.advance(Math.min(step, ms - t));
      await settle();
    }
  };
  const latest = (pod: StoredObject): unknown => reporter.latest(uidOf(pod));
  const metric = async (name: string): Promise<string> => {
    const text = await registry.metrics();
    return text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .join('\n');
  };
  return { clock, runtime, images, network, reporter, registry, mgr, settle, advance, latest, metric };
}

describe('pod workers', () => {
  it('runs a pod and reports Running with the status the kubelet would report', async () => {
    const t = setup();
    const pod = makePod({
      containers: [
        {
          name: 'app',
          image: 'busybox',
          resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '500m', memory: '64Mi' } },
          ports: [{ containerPort: 80, protocol: 'TCP' }],
        },
      ],
    });
    t.mgr.update(pod);
    await t.settle();
    const s = t.latest(pod);
    assert.equal(at(s, 'phase'), 'Running');
    assert.equal(at(s, 'podIP'), '10.244.1.2');
    assert.deepEqual(at(s, 'podIPs'), [{ ip: '10.244.1.2' }]);
    assert.equal(at(s, 'hostIP'), '192.168.0.10');
    assert.equal(at(s, 'qosClass'), 'Guaranteed');
    assert.equal(at(s, 'startTime'), '2026-01-01T00:00:00Z');
    for (const type of [
      'PodReadyToStartContainers',
      'Initialized',
      'ContainersReady',
      'Ready',
      'PodScheduled',
    ]) {
      assert.equal(at(condition(s, type), 'status'), 'True', type);
    }
    const cs = at(s, 'containerStatuses', 0);
    assert.equal(at(cs, 'name'), 'app');
    assert.equal(at(cs, 'ready'), true);
    assert.equal(at(cs, 'started'), true);
    assert.equal(at(cs, 'restartCount'), 0);
    assert.match(String(at(cs, 'containerID')), /^fake:\/\/[0-9a-f]{64}$/);
    assert.match(String(at(cs, 'imageID')), /^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
    assert.equal(at(cs, 'state', 'running', 'startedAt'), '2026-01-01T00:00:00Z');
    assert.deepEqual(at(cs, 'lastState'), {});

    // The runtime got what the kubelet would send: labels to find the pod again, cgroup values.
    const [container] = await t.runtime.listContainers({
      labelSelector: { 'io.kubernetes.pod.uid': uidOf(pod) },
    });
    const st = await t.runtime.containerStatus(container?.id ?? '');
    assert.equal(st?.labels['io.kubernetes.container.name'], 'app');
    assert.equal(st.labels['berth.dev/node'], 'node-1');
    assert.deepEqual(st.resources, {
      cpuShares: 512,
      cpuPeriod: 100000,
      cpuQuota: 50000,
      memoryLimitInBytes: 67108864,
    });
    assert.equal(st.logPath, `/var/log/pods/default_web-1_${uidOf(pod)}/app/0.log`);

    assert.deepEqual(t.reporter.eventsOf(uidOf(pod)), [
      'Pulling: Pulling image "busybox"',
      'Pulled: Successfully pulled image "busybox" in 0s (0s including waiting). Image size: 2166802 bytes.',
      'Created: Created container: app',
      'Started: Started container app',
    ]);
    assert.equal(t.reporter.events[0]?.fieldPath, 'spec.containers{app}');

    await t.advance(1000);
    assert.match(await t.metric('kubelet_running_pods'), /kubelet_running_pods 1/);
    assert.match(await t.metric('kubelet_running_containers'), /container_state="running"} 1/);
    assert.match(await t.metric('kubelet_started_containers_total'), /container_type="container"} 1/);
    assert.match(await t.metric('kubelet_started_pods_total'), /kubelet_started_pods_total 1/);
    assert.match(await t.metric('kubelet_pod_start_duration_seconds_count'), / 1$/);
    assert.match(await t.metric('kubelet_pod_worker_duration_seconds_count'), /operation_type="create"} 1/);
    await t.mgr.close();
  });

  it('reports ContainerCreating while the image pulls and the start is delayed', async () => {
    const t = setup();
    const pod = makePod({
      annotations: { [fakeAnnotations.pullDelayMs]: '5000', [fakeAnnotations.startDelayMs]: '2000' },
      containers: [{ name: 'app', image: 'nginx:1.27' }],
    });
    t.mgr.update(pod);
    await t.settle();
    assert.equal(t.latest(pod), undefined, 'nothing reported before the first turn finishes');
    await t.advance(5000);
    await t.advance(2000);
    assert.equal(at(t.latest(pod), 'phase'), 'Running');
    assert.equal(at(t.latest(pod), 'containerStatuses', 0, 'started'), true);
    await t.mgr.close();
  });

  it('shows a crashing container in CrashLoopBackOff with a growing back-off', async () => {
    const t = setup();
    const pod = makePod({ annotations: { [fakeAnnotations.exitCode]: '1' } });
    const uid = uidOf(pod);
    t.mgr.update(pod);
    await t.settle();
    // First exit: restarted at once (kubelet arms the 10 s back-off on the first restart).
    await t.advance(1000);
    let cs = at(t.latest(pod), 'containerStatuses', 0);
    assert.equal(at(cs, 'restartCount'), 1);
    await t.advance(1000);
    cs = at(t.latest(pod), 'containerStatuses', 0);
    assert.equal(at(cs, 'state', 'waiting', 'reason'), 'CrashLoopBackOff');
    assert.equal(
      at(cs, 'state', 'waiting', 'message'),
      `back-off 10s restarting failed container=app pod=web-1_default(${uid})`,
    );
    assert.equal(at(cs, 'lastState', 'terminated', 'exitCode'), 1);
    assert.equal(at(cs, 'lastState', 'terminated', 'reason'), 'Error');
    assert.equal(at(t.latest(pod), 'phase'), 'Running');
    assert.equal(at(condition(t.latest(pod), 'Ready'), 'status'), 'False');

    const restarts = (): unknown => at(t.latest(pod), 'containerStatuses', 0, 'restartCount');
    await t.advance(9000);
    assert.equal(restarts(), 2, 'restarted after 10 s');
    await t.advance(2000);
    assert.match(
      String(at(t.latest(pod), 'containerStatuses', 0, 'state', 'waiting', 'message')),
      /^back-off 20s /,
    );
    await t.advance(17_000);
    assert.equal(restarts(), 2, 'still backing off before 20 s');
    await t.advance(1000);
    assert.equal(restarts(), 3);
    await t.advance(2000);
    assert.match(
      String(at(t.latest(pod), 'containerStatuses', 0, 'state', 'waiting', 'message')),
      /^back-off 40s /,
    );
    const backoffs = t.reporter.eventsOf(uid).filter((e) => e.startsWith('BackOff: '));
    assert.equal(backoffs.length, 3, 'one BackOff event per back-off window');
    assert.equal(
      backoffs[0],
      `BackOff: Back-off restarting failed container app in pod web-1_default(${uid})`,
    );
    // Old containers are collected: the current one and the previous one remain.
    assert.ok(t.runtime.size.containers <= 2);
    await t.mgr.close();
  });

  it('back-off is configurable and resets after a clean run', async () => {
    const t = setup({ backoff: { initialMs: 1000, maxMs: 4000, resetAfterMs: 60_000 } });
    const pod = makePod({
      annotations: { [fakeAnnotations.exitCode]: '1', [fakeAnnotations.runForMs]: '500' },
    });
    t.mgr.update(pod);
    await t.settle();
    await t.advance(30_000, 250);
    const msgs = t.reporter.statuses
      .get(uidOf(pod))
      ?.map((s) => str(at(s, 'containerStatuses', 0, 'state', 'waiting', 'message')))
      .filter((m) => m.startsWith('back-off'))
      .map((m) => m.split(' ')[1]);
    assert.deepEqual([...new Set(msgs)], ['1s', '2s', '4s'], 'doubles up to the cap');
    await t.mgr.close();

    // A container that runs longer than the reset time between crashes is restarted at once, every time.
    const t2 = setup({ backoff: { initialMs: 1000, maxMs: 4000, resetAfterMs: 10_000 } });
    const p2 = makePod({
      annotations: { [fakeAnnotations.exitCode]: '1', [fakeAnnotations.runForMs]: '20000' },
    });
    t2.mgr.update(p2);
    await t2.settle();
    await t2.advance(200_500, 500);
    const statuses2 = t2.reporter.statuses.get(uidOf(p2)) ?? [];
    const waited = statuses2.filter(
      (s) => at(s, 'containerStatuses', 0, 'state', 'waiting', 'reason') === 'CrashLoopBackOff',
    );
    assert.equal(waited.length, 0);
    assert.equal(at(statuses2.at(-1), 'containerStatuses', 0, 'restartCount'), 10);
    await t2.mgr.close();

    // One that crashes sooner than that keeps its back-off growing.
    const t3 = setup({ backoff: { initialMs: 1000, maxMs: 4000, resetAfterMs: 10_000 } });
    const p3 = makePod({
      annotations: { [fakeAnnotations.exitCode]: '1', [fakeAnnotations.runForMs]: '5000' },
    });
    t3.mgr.update(p3);
    await t3.settle();
    await t3.advance(60_000, 500);
    const msgs3 = (t3.reporter.statuses.get(uidOf(p3)) ?? [])
      .map((s) => str(at(s, 'containerStatuses', 0, 'state', 'waiting', 'message')))
      .filter((m) => m.startsWith('back-off'))
      .map((m) => m.split(' ')[1]);
    assert.deepEqual([...new Set(msgs3)], ['1s', '2s', '4s']);
    await t3.mgr.close();
  });

  it('OnFailure restarts failures but not successes; Never restarts nothing', async () => {
    const t = setup();
    const ok = makePod({
      name: 'ok',
      spec: { restartPolicy: 'OnFailure' },
      annotations: { [fakeAnnotations.exitCode]: '0', [fakeAnnotations.runForMs]: '1000' },
    });
    const bad = makePod({
      name: 'bad',
      spec: { restartPolicy: 'OnFailure' },
      annotations: { [fakeAnnotations.exitCode]: '2', [fakeAnnotations.runForMs]: '1000' },
    });
    const never = makePod({
      name: 'never',
      spec: { restartPolicy: 'Never' },
      annotations: { [fakeAnnotations.exitCode]: '2', [fakeAnnotations.runForMs]: '1000' },
    });
    t.mgr.sync([ok, bad, never]);
    await t.settle();
    await t.advance(5000);
    assert.equal(at(t.latest(ok), 'phase'), 'Succeeded');
    assert.equal(at(t.latest(ok), 'containerStatuses', 0, 'restartCount'), 0);
    assert.equal(at(t.latest(ok), 'containerStatuses', 0, 'state', 'terminated', 'reason'), 'Completed');
    assert.equal(at(t.latest(bad), 'phase'), 'Running');
    assert.equal(at(t.latest(bad), 'containerStatuses', 0, 'restartCount'), 1);
    assert.equal(at(t.latest(never), 'phase'), 'Failed');
    assert.equal(at(t.latest(never), 'containerStatuses', 0, 'restartCount'), 0);
    assert.equal(at(t.latest(never), 'containerStatuses', 0, 'state', 'terminated', 'exitCode'), 2);
    // Finished pods give their sandbox and address back but keep containers until deleted.
    const sandboxes = await t.runtime.listPodSandboxes({
      labelSelector: { 'io.kubernetes.pod.uid': uidOf(never) },
    });
    assert.equal(sandboxes[0]?.state, 'NOTREADY');
    assert.equal(t.network.allocated, 1, 'only the restarting pod keeps its IP');
    assert.equal(t.mgr.workers().get(uidOf(never))?.lifecycle, 'terminated');
    await t.advance(60_000);
    assert.equal(
      at(t.latest(never), 'containerStatuses', 0, 'restartCount'),
      0,
      'a finished pod never restarts',
    );
    await t.mgr.close();
  });

  it('a Job-like pod goes Running → Succeeded, or Failed', async () => {
    const t = setup();
    const job = makePod({
      name: 'job',
      spec: { restartPolicy: 'Never' },
      annotations: { [fakeAnnotations.runForMs]: '5000' },
    });
    const failing = makePod({
      name: 'job-f',
      spec: { restartPolicy: 'OnFailure' },
      containers: [
        { name: 'a', image: 'busybox:1.36' },
        { name: 'b', image: 'busybox:1.36' },
      ],
      annotations: {
        [`${fakeAnnotations.runForMs}.a`]: '1000',
        [`${fakeAnnotations.exitCode}.a`]: '0',
        [`${fakeAnnotations.runForMs}.b`]: '2000',
      },
    });
    t.mgr.update(job);
    t.mgr.update(failing);
    await t.settle();
    assert.equal(at(t.latest(job), 'phase'), 'Running');
    await t.advance(6000);
    const s = t.latest(job);
    assert.equal(at(s, 'phase'), 'Succeeded');
    assert.equal(at(condition(s, 'Ready'), 'reason'), 'PodCompleted');
    assert.equal(at(condition(s, 'Ready'), 'status'), 'False');
    assert.equal(at(s, 'podIP'), '10.244.1.2', 'a finished pod keeps its IP in status');
    // b runs for 2 s then exits 0 too: OnFailure with all succeeded ⇒ Succeeded.
    assert.equal(at(t.latest(failing), 'phase'), 'Succeeded');

    // After a reconnect the full set arrives again: the finished pod's status is said again, unchanged.
    const reports = t.reporter.statuses.get(uidOf(job))?.length ?? 0;
    t.mgr.sync([job, failing]);
    await t.settle();
    assert.equal(t.reporter.statuses.get(uidOf(job))?.length, reports + 1);
    assert.deepEqual(t.latest(job), s);

    // Deleting a finished pod removes its containers and reports it terminated.
    t.mgr.update(deleted(job, 30));
    await t.settle();
    assert.deepEqual(t.reporter.terminatedUids, [uidOf(job)]);
    assert.equal(
      (await t.runtime.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': uidOf(job) } })).length,
      0,
    );
    assert.equal(t.runtime.counters.containersCreated, 3, 'nothing restarted');
    await t.mgr.close();
  });

  it('runs init containers in order before the app containers', async () => {
    const t = setup();
    const pod = makePod({
      initContainers: [
        { name: 'init-a', image: 'busybox:1.36' },
        { name: 'init-b', image: 'busybox:1.36' },
      ],
      annotations: {
        [`${fakeAnnotations.runForMs}.init-a`]: '3000',
        [`${fakeAnnotations.runForMs}.init-b`]: '3000',
      },
    });
    t.mgr.update(pod);
    await t.settle();
    let s = t.latest(pod);
    assert.equal(at(s, 'phase'), 'Pending');
    assert.ok(at(s, 'initContainerStatuses', 0, 'state', 'running') !== undefined);
    assert.equal(at(s, 'initContainerStatuses', 1, 'state', 'waiting', 'reason'), 'PodInitializing');
    assert.equal(at(s, 'containerStatuses', 0, 'state', 'waiting', 'reason'), 'PodInitializing');
    assert.equal(
      at(condition(s, 'Initialized'), 'message'),
      'containers with incomplete status: [init-a init-b]',
    );
    await t.advance(3000);
    s = t.latest(pod);
    assert.equal(at(s, 'initContainerStatuses', 0, 'state', 'terminated', 'reason'), 'Completed');
    assert.equal(at(s, 'initContainerStatuses', 0, 'ready'), true);
    assert.ok(at(s, 'initContainerStatuses', 1, 'state', 'running') !== undefined);
    await t.advance(3000);
    s = t.latest(pod);
    assert.equal(at(s, 'phase'), 'Running');
    assert.equal(at(condition(s, 'Initialized'), 'status'), 'True');
    const started = t.reporter.eventsOf(uidOf(pod)).filter((e) => e.startsWith('Started'));
    assert.deepEqual(started, [
      'Started: Started container init-a',
      'Started: Started container init-b',
      'Started: Started container app',
    ]);
    assert.match(await t.metric('kubelet_started_containers_total'), /container_type="init_container"} 2/);
    await t.mgr.close();
  });

  it('a failing init container fails a Never pod and crash-loops an Always pod', async () => {
    const t = setup();
    const mk = (name: string, restartPolicy: string): StoredObject =>
      makePod({
        name,
        spec: { restartPolicy },
        initContainers: [{ name: 'init', image: 'busybox:1.36' }],
        annotations: { [`${fakeAnnotations.exitCode}.init`]: '3' },
      });
    const never = mk('never', 'Never');
    const always = mk('always', 'Always');
    t.mgr.sync([never, always]);
    await t.settle();
    await t.advance(3000);
    assert.equal(at(t.latest(never), 'phase'), 'Failed');
    assert.equal(
      at(t.latest(never), 'containerStatuses', 0, 'state', 'waiting', 'reason'),
      'PodInitializing',
    );
    assert.equal(at(t.latest(always), 'phase'), 'Pending');
    assert.equal(
      at(t.latest(always), 'initContainerStatuses', 0, 'state', 'waiting', 'reason'),
      'CrashLoopBackOff',
    );
    assert.equal(at(t.latest(always), 'initContainerStatuses', 0, 'lastState', 'terminated', 'exitCode'), 3);
    await t.mgr.close();
  });

  it('image pull failure shows ErrImagePull, then ImagePullBackOff, and retries after the back-off', async () => {
    const t = setup();
    const pod = makePod({ containers: [{ name: 'app', image: 'example.com/notfound:1' }] });
    const uid = uidOf(pod);
    t.mgr.update(pod);
    await t.settle();
    let w = at(t.latest(pod), 'containerStatuses', 0, 'state', 'waiting');
    assert.equal(at(w, 'reason'), 'ErrImagePull');
    assert.match(String(at(w, 'message')), /not found/);
    assert.equal(at(t.latest(pod), 'phase'), 'Pending');
    await t.advance(1000);
    w = at(t.latest(pod), 'containerStatuses', 0, 'state', 'waiting');
    assert.equal(at(w, 'reason'), 'ImagePullBackOff');
    assert.equal(at(w, 'message'), 'Back-off pulling image "example.com/notfound:1"');
    const pullsBefore = t.images.pulls.length;
    await t.advance(10_000);
    assert.equal(t.images.pulls.length, pullsBefore + 1, 'pulled again once the 10 s back-off ended');
    const events = t.reporter.eventsOf(uid);
    assert.ok(events.includes('Failed: Error: ErrImagePull'), events.join('\n'));
    assert.ok(events.includes('BackOff: Back-off pulling image "example.com/notfound:1"'));
    assert.ok(events.includes('Failed: Error: ImagePullBackOff'));
    assert.ok(events.some((e) => e.startsWith('Failed: Failed to pull image "example.com/notfound:1": ')));
    await t.mgr.close();
  });

  it('imagePullPolicy: IfNotPresent pulls once, Always pulls every start, Never never pulls', async () => {
    const t = setup();
    const a = makePod({
      name: 'a',
      containers: [{ name: 'app', image: 'busybox:1.36', imagePullPolicy: 'IfNotPresent' }],
    });
    const b = makePod({
      name: 'b',
      containers: [{ name: 'app', image: 'busybox:1.36', imagePullPolicy: 'IfNotPresent' }],
    });
    t.mgr.update(a);
    await t.settle();
    t.mgr.update(b);
    await t.settle();
    assert.equal(t.images.pulls.length, 1);
    assert.ok(
      t.reporter
        .eventsOf(uidOf(b))
        .includes('Pulled: Container image "busybox:1.36" already present on machine'),
    );
    const c = makePod({
      name: 'c',
      containers: [{ name: 'app', image: 'busybox:1.36', imagePullPolicy: 'Always' }],
    });
    t.mgr.update(c);
    await t.settle();
    assert.equal(t.images.pulls.length, 2);
    const d = makePod({
      name: 'd',
      containers: [{ name: 'app', image: 'alpine:3', imagePullPolicy: 'Never' }],
    });
    t.mgr.update(d);
    await t.settle();
    assert.equal(t.images.pulls.length, 2);
    assert.equal(at(t.latest(d), 'containerStatuses', 0, 'state', 'waiting', 'reason'), 'ErrImageNeverPull');
    assert.equal(
      at(t.latest(d), 'containerStatuses', 0, 'state', 'waiting', 'message'),
      'Container image "alpine:3" is not present with pull policy of Never',
    );
    await t.mgr.close();
  });

  it('reports CreateContainerError, RunContainerError and OOMKilled', async () => {
    const t = setup();
    const create = makePod({
      name: 'create',
      annotations: { [fakeAnnotations.createError]: 'no such user "nobody2"' },
    });
    const start = makePod({
      name: 'start',
      annotations: { [fakeAnnotations.startError]: 'exec: "nope": executable file not found in $PATH' },
    });
    const oom = makePod({ name: 'oom', annotations: { [fakeAnnotations.oomAfterMs]: '500' } });
    t.mgr.sync([create, start, oom]);
    await t.settle();
    await t.advance(1000);
    assert.equal(
      at(t.latest(create), 'containerStatuses', 0, 'state', 'waiting', 'reason'),
      'CreateContainerError',
    );
    assert.equal(
      at(t.latest(create), 'containerStatuses', 0, 'state', 'waiting', 'message'),
      'no such user "nobody2"',
    );
    assert.ok(t.reporter.eventsOf(uidOf(create)).includes('Failed: Error: no such user "nobody2"'));
    const startWaiting = at(t.latest(start), 'containerStatuses', 0, 'state', 'waiting', 'reason');
    assert.ok(
      startWaiting === 'RunContainerError' || startWaiting === 'CrashLoopBackOff',
      String(startWaiting),
    );
    assert.equal(
      at(t.latest(start), 'containerStatuses', 0, 'lastState', 'terminated', 'reason'),
      'StartError',
    );
    const oomStatus = at(t.latest(oom), 'containerStatuses', 0);
    assert.equal(at(oomStatus, 'lastState', 'terminated', 'reason'), 'OOMKilled');
    assert.equal(at(oomStatus, 'lastState', 'terminated', 'exitCode'), 137);
    await t.mgr.close();
  });

  it('graceful delete: stops containers within the grace period, then reports terminated', async () => {
    const t = setup();
    const pod = makePod({ annotations: { [fakeAnnotations.stopDelayMs]: '5000' } });
    const uid = uidOf(pod);
    t.mgr.update(pod);
    await t.settle();
    t.mgr.update(deleted(pod, 30));
    await t.settle();
    assert.ok(t.reporter.eventsOf(uid).includes('Killing: Stopping container app'));
    await t.advance(4000);
    assert.deepEqual(t.reporter.terminatedUids, [], 'not terminated while the container still stops');
    assert.equal(t.mgr.workers().get(uid)?.lifecycle, 'terminating');
    await t.advance(2000);
    assert.deepEqual(t.reporter.terminatedUids, [uid]);
    const final = t.latest(pod);
    assert.equal(at(final, 'containerStatuses', 0, 'state', 'terminated', 'exitCode'), 143);
    assert.deepEqual(t.runtime.size, { sandboxes: 0, containers: 0 }, 'sandbox and containers removed');
    assert.equal(t.network.allocated, 0);
    // The API then removes the object; the worker goes and a late update does not restart it.
    t.mgr.remove(uid);
    await t.settle();
    assert.equal(t.mgr.workers().has(uid), false);
    t.mgr.update(pod);
    await t.settle();
    assert.equal(t.runtime.counters.containersCreated, 1);
    await t.mgr.close();
  });

  it('a container that ignores SIGTERM is killed when the grace period ends; a shorter re-delete wins', async () => {
    const t = setup();
    const pod = makePod({ annotations: { [fakeAnnotations.ignoreSigterm]: 'true' } });
    t.mgr.update(pod);
    await t.settle();
    t.mgr.update(deleted(pod, 60));
    await t.advance(10_000);
    assert.deepEqual(t.reporter.terminatedUids, []);
    t.mgr.update(deleted(pod, 5));
    await t.advance(4000);
    assert.deepEqual(t.reporter.terminatedUids, []);
    await t.advance(2000);
    assert.deepEqual(t.reporter.terminatedUids, [uidOf(pod)]);
    assert.equal(at(t.latest(pod), 'containerStatuses', 0, 'state', 'terminated', 'exitCode'), 137);
    await t.mgr.close();
  });

  it('deleting a pod that is still pulling cancels the pull and terminates promptly', async () => {
    const t = setup();
    const pod = makePod({ annotations: { [fakeAnnotations.pullDelayMs]: '600000' } });
    t.mgr.update(pod);
    await t.settle();
    await t.advance(2000);
    t.mgr.update(deleted(pod, 30));
    await t.settle();
    assert.deepEqual(t.reporter.terminatedUids, [uidOf(pod)]);
    assert.equal(t.runtime.counters.containersCreated, 0);
    await t.mgr.close();
  });

  it('a new manager over the same runtime adopts running pods and starts nothing twice', async () => {
    const shared = {
      clock: new FakeClock(),
      runtime: undefined as unknown as FakeRuntime,
      images: undefined as unknown as FakeImageService,
      network: new FakePodNetwork({ cidr: '10.244.1.0/24' }),
    };
    shared.runtime = new FakeRuntime({ clock: shared.clock });
    shared.images = new FakeImageService({ clock: shared.clock });
    const first = setup({}, shared);
    const steady = makePod({ name: 'steady' });
    const crashing = makePod({ name: 'crashing', annotations: { [fakeAnnotations.exitCode]: '1' } });
    const init = makePod({ name: 'init', initContainers: [{ name: 'setup', image: 'busybox:1.36' }] });
    const pods = [steady, crashing, init];
    first.mgr.sync(pods);
    await first.settle();
    await first.advance(3000);
    const before = first.latest(steady);
    const restartsBefore = at(first.latest(crashing), 'containerStatuses', 0, 'restartCount');
    await first.mgr.close();
    const created = shared.runtime.counters.containersCreated;
    const sandboxes = shared.runtime.counters.sandboxesRun;

    const second = setup({}, shared);
    // The controller resends the pods as it stored them (with the status the first manager reported).
    second.mgr.sync(pods.map((p) => ({ ...p, status: first.latest(p) })));
    await second.settle();
    assert.equal(shared.runtime.counters.sandboxesRun, sandboxes, 'no sandbox started twice');
    const steadyNow = second.latest(steady);
    assert.equal(
      at(steadyNow, 'containerStatuses', 0, 'containerID'),
      at(before, 'containerStatuses', 0, 'containerID'),
    );
    assert.equal(at(steadyNow, 'podIP'), at(before, 'podIP'));
    assert.equal(at(steadyNow, 'startTime'), at(before, 'startTime'));
    assert.equal(
      at(condition(steadyNow, 'Ready'), 'lastTransitionTime'),
      at(condition(before, 'Ready'), 'lastTransitionTime'),
    );
    // Back-off lives in memory (as in the kubelet), so only the crash-looping pod may restart now.
    const createdSince = shared.runtime.counters.containersCreated - created;
    const crashingContainers = await shared.runtime.listContainers({
      labelSelector: { 'io.kubernetes.pod.uid': uidOf(crashing) },
    });
    assert.ok(createdSince <= 1, `created ${createdSince}`);
    for (const p of [steady, init]) {
      const cs = await shared.runtime.listContainers({
        labelSelector: { 'io.kubernetes.pod.uid': uidOf(p) },
      });
      assert.equal(cs.length, p === init ? 2 : 1, 'no container of a healthy pod made twice');
    }
    assert.ok(crashingContainers.every((c) => c.state !== 'RUNNING' || c.metadata.attempt > 0));
    assert.ok(
      Number(at(second.latest(crashing), 'containerStatuses', 0, 'restartCount')) >= Number(restartsBefore),
    );
    assert.equal(at(second.latest(init), 'phase'), 'Running');
    assert.equal(at(second.latest(init), 'initContainerStatuses', 0, 'state', 'terminated', 'exitCode'), 0);
    assert.match(
      await second.metric('kubelet_pod_start_duration_seconds_count'),
      / 0$/,
      'adopted pods are not counted as started',
    );
    await second.mgr.close();
  });

  it('sync() stops and removes pods missing from the full set; orphans in the runtime go too', async () => {
    const shared = {
      clock: new FakeClock(),
      runtime: undefined as unknown as FakeRuntime,
      images: undefined as unknown as FakeImageService,
      network: new FakePodNetwork({ cidr: '10.244.1.0/24' }),
    };
    shared.runtime = new FakeRuntime({ clock: shared.clock });
    shared.images = new FakeImageService({ clock: shared.clock });
    const t = setup({}, shared);
    const keep = makePod({ name: 'keep' });
    const drop = makePod({ name: 'drop' });
    const orphan = makePod({ name: 'orphan' });
    t.mgr.sync([keep, drop, orphan]);
    await t.settle();
    t.mgr.sync([keep, orphan]);
    await t.advance(3000);
    assert.equal(
      (await shared.runtime.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': uidOf(drop) } }))
        .length,
      0,
    );
    assert.equal(t.mgr.workers().has(uidOf(drop)), false);
    assert.deepEqual(t.reporter.terminatedUids, [], 'the API already dropped it: no terminated report');
    assert.equal(at(t.latest(keep), 'phase'), 'Running');
    await t.mgr.close();

    // After a restart, a pod deleted while the agent was away is found in the runtime and removed,
    // but only once the controller's full set has arrived.
    const t2 = setup({}, shared);
    await t2.advance(3000);
    assert.equal(
      (await shared.runtime.listPodSandboxes({ labelSelector: { 'io.kubernetes.pod.uid': uidOf(orphan) } }))
        .length,
      1,
    );
    t2.mgr.sync([keep]);
    await t2.advance(3000);
    assert.equal(
      (await shared.runtime.listPodSandboxes({ labelSelector: { 'io.kubernetes.pod.uid': uidOf(orphan) } }))
        .length,
      0,
    );
    assert.equal(shared.network.allocated, 1);
    assert.equal(
      (await shared.runtime.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': uidOf(keep) } }))[0]
        ?.state,
      'RUNNING',
    );
    await t2.mgr.close();
  });

  it('notices an exit on the periodic relist without any update', async () => {
    const t = setup();
    const pod = makePod();
    t.mgr.update(pod);
    await t.settle();
    const [c] = await t.runtime.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': uidOf(pod) } });
    t.runtime.crash(c?.id ?? '', 137, 'OOMKilled');
    await t.advance(1000);
    const s = t.latest(pod);
    assert.equal(at(s, 'containerStatuses', 0, 'restartCount'), 1);
    assert.equal(at(s, 'containerStatuses', 0, 'lastState', 'terminated', 'reason'), 'OOMKilled');
    await t.mgr.close();
  });

  it('a quick exit is noticed by the hot relist, before the one-second relist', async () => {
    for (const hotWindowMs of [undefined, 0]) {
      const t = setup(hotWindowMs === undefined ? {} : { hotWindowMs });
      const job = makePod({
        name: 'quick',
        spec: { restartPolicy: 'Never' },
        annotations: { [fakeAnnotations.runForMs]: '300' },
      });
      t.mgr.update(job);
      await t.settle();
      assert.equal(at(t.latest(job), 'phase'), 'Running');
      await t.advance(500, 100);
      if (hotWindowMs === undefined) {
        assert.equal(at(t.latest(job), 'phase'), 'Succeeded', 'exit at 300 ms seen by 500 ms');
      } else {
        assert.equal(at(t.latest(job), 'phase'), 'Running', 'hot relist off: only the 1 s relist sees it');
        await t.advance(500, 100);
        assert.equal(at(t.latest(job), 'phase'), 'Succeeded');
      }
      await t.mgr.close();
      assert.equal(t.clock.pendingTimers, 0);
    }
  });

  it('many hot pods share one node-wide listing per hot tick', async () => {
    const clock = new FakeClock();
    const runtime = new FakeRuntime({ clock });
    let lists = 0;
    const counting = new Proxy(runtime, {
      get(target, prop, recv) {
        if (prop === 'listContainers') lists++;
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const t = setup(
      { runtime: counting },
      {
        clock,
        runtime,
        images: new FakeImageService({ clock }),
        network: new FakePodNetwork({ cidr: '10.244.1.0/24' }),
      },
    );
    const jobs = Array.from({ length: 6 }, (_, i) =>
      makePod({
        name: `quick-${i}`,
        spec: { restartPolicy: 'Never' },
        annotations: { [fakeAnnotations.runForMs]: String(300 + 60 * i) },
      }),
    );
    for (const j of jobs) t.mgr.update(j);
    await t.settle();
    assert.ok(jobs.every((j) => at(t.latest(j), 'phase') === 'Running'));
    await t.advance(100, 100); // the first hot tick sees the new containers: each pod gets a turn
    lists = 0;
    await t.advance(100, 100); // nothing changed: one listing for all six
    assert.equal(lists, 1);
    await t.advance(600, 100); // exits at 300…600 ms; the 1 s relist has not run yet
    assert.deepEqual(
      jobs.map((j) => at(t.latest(j), 'phase')),
      jobs.map(() => 'Succeeded'),
      'every exit seen within a hot tick, well before the 1 s relist',
    );
    await t.mgr.close();
  });

  it('relists a pod fast only while its containers started recently; one timer throughout', async () => {
    const clock = new FakeClock();
    const runtime = new FakeRuntime({ clock });
    let lists = 0;
    const counting = new Proxy(runtime, {
      get(target, prop, recv) {
        if (prop === 'listContainers') lists++;
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const t = setup(
      { runtime: counting, hotWindowMs: 5000 },
      {
        clock,
        runtime,
        images: new FakeImageService({ clock }),
        network: new FakePodNetwork({ cidr: '10.244.1.0/24' }),
      },
    );
    const pod = makePod();
    t.mgr.update(pod);
    await t.settle();
    assert.equal(at(t.latest(pod), 'phase'), 'Running');
    assert.equal(clock.pendingTimers, 1);
    lists = 0;
    await t.advance(2000, 100);
    assert.ok(lists >= 15, `hot: about 10 relists of the pod per second (${lists} list calls in 2 s)`);
    assert.equal(clock.pendingTimers, 1);
    await t.advance(4000, 100);
    lists = 0;
    await t.advance(3000, 100);
    assert.equal(lists, 3, 'cold: one relist per second');
    // A restart makes the pod hot again.
    const [c] = await runtime.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': uidOf(pod) } });
    runtime.crash(c?.id ?? '', 1, 'Error');
    await t.advance(1000, 100);
    assert.equal(at(t.latest(pod), 'containerStatuses', 0, 'restartCount'), 1);
    lists = 0;
    await t.advance(1000, 100);
    assert.ok(lists >= 8, `hot again after the restart (${lists} list calls in 1 s)`);
    await t.mgr.close();
    assert.equal(clock.pendingTimers, 0);
  });

  it('restarts a container whose image changed', async () => {
    const t = setup();
    const pod = makePod();
    t.mgr.update(pod);
    await t.settle();
    const spec = pod.spec as { containers: Record<string, unknown>[] };
    const changed = {
      ...pod,
      spec: { ...spec, containers: [{ ...spec.containers[0], image: 'busybox:1.37' }] },
    };
    t.mgr.update(changed);
    await t.settle();
    const s = t.latest(pod);
    assert.equal(at(s, 'containerStatuses', 0, 'image'), 'busybox:1.37');
    assert.equal(at(s, 'containerStatuses', 0, 'restartCount'), 1);
    assert.ok(
      t.reporter
        .eventsOf(uidOf(pod))
        .includes('Killing: Container app definition changed, will be restarted'),
    );
    await t.mgr.close();
  });

  it('status-only updates (our own echoes) cause no turn', async () => {
    const t = setup();
    const pod = makePod();
    t.mgr.update(pod);
    await t.settle();
    const reports = t.reporter.statuses.get(uidOf(pod))?.length;
    const turns = await t.metric('kubelet_pod_worker_duration_seconds_count');
    t.mgr.update({ ...pod, status: t.latest(pod) });
    await t.settle();
    assert.equal(await t.metric('kubelet_pod_worker_duration_seconds_count'), turns);
    assert.equal(t.reporter.statuses.get(uidOf(pod))?.length, reports);
    await t.mgr.close();
  });

  it('hostNetwork pods get the node IP and no pod network', async () => {
    const t = setup();
    const pod = makePod({ spec: { hostNetwork: true } });
    t.mgr.update(pod);
    await t.settle();
    assert.equal(at(t.latest(pod), 'podIP'), '192.168.0.10');
    assert.equal(t.network.allocated, 0);
    await t.mgr.close();
  });
});

describe('probes', () => {
  it('readiness follows an exec probe; liveness failure restarts the container', async () => {
    const t = setup();
    const pod = makePod({
      containers: [
        {
          name: 'app',
          image: 'busybox:1.36',
          readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 },
          livenessProbe: {
            exec: { command: ['cat', '/tmp/alive'] },
            periodSeconds: 2,
            failureThreshold: 2,
            initialDelaySeconds: 1,
          },
        },
      ],
    });
    t.mgr.update(pod);
    await t.settle();
    const [c] = await t.runtime.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': uidOf(pod) } });
    const id = c?.id ?? '';
    t.runtime.writeFile(id, '/tmp/alive', 'ok');
    assert.equal(
      at(t.latest(pod), 'containerStatuses', 0, 'ready'),
      false,
      'not ready before the first probe',
    );
    await t.advance(2000);
    assert.equal(at(t.latest(pod), 'containerStatuses', 0, 'ready'), false);
    assert.equal(at(condition(t.latest(pod), 'Ready'), 'message'), 'containers with unready status: [app]');
    t.runtime.writeFile(id, '/tmp/ready', 'yes');
    await t.advance(2000);
    assert.equal(at(t.latest(pod), 'containerStatuses', 0, 'ready'), true);
    assert.equal(at(condition(t.latest(pod), 'Ready'), 'status'), 'True');

    t.runtime.writeFile(id, '/tmp/alive', undefined);
    await t.advance(6000);
    const s = t.latest(pod);
    assert.equal(at(s, 'containerStatuses', 0, 'restartCount'), 1);
    const events = t.reporter.eventsOf(uidOf(pod));
    assert.ok(
      events.some((e) => e.startsWith("Unhealthy: Liveness probe failed: cat: can't open '/tmp/alive'")),
      events.join('\n'),
    );
    assert.ok(events.includes('Killing: Container app failed liveness probe, will be restarted'));
    await t.mgr.close();
  });

  it('a startup probe gates readiness and `started`', async () => {
    const t = setup();
    const pod = makePod({
      containers: [
        {
          name: 'app',
          image: 'busybox:1.36',
          startupProbe: {
            httpGet: { path: '/healthz', port: 'http' },
            periodSeconds: 1,
            failureThreshold: 30,
          },
          ports: [{ name: 'http', containerPort: 8080 }],
        },
      ],
    });
    let healthy = false;
    const seen: string[] = [];
    const t2 = setup({
      probeTransport: {
        httpGet: (req) => {
          seen.push(`${req.host}:${req.port}${req.path}`);
          return Promise.resolve(healthy ? { statusCode: 200 } : { statusCode: 503 });
        },
        tcpConnect: () => Promise.resolve({ ok: true }),
      },
    });
    await t.mgr.close();
    t2.mgr.update(pod);
    await t2.settle();
    await t2.advance(3000);
    assert.equal(at(t2.latest(pod), 'containerStatuses', 0, 'started'), false);
    assert.equal(at(t2.latest(pod), 'containerStatuses', 0, 'ready'), false);
    assert.equal(seen[0], '10.244.1.2:8080/healthz');
    healthy = true;
    await t2.advance(2000);
    assert.equal(at(t2.latest(pod), 'containerStatuses', 0, 'started'), true);
    assert.equal(at(t2.latest(pod), 'containerStatuses', 0, 'ready'), true);
    await t2.mgr.close();
  });
});

describe('scale', () => {
  it('a hundred managers of ten pods each hold one timer per manager', async () => {
    const clock = new FakeClock();
    const managers: PodManager[] = [];
    const reporters: RecordingReporter[] = [];
    for (let i = 0; i < 100; i++) {
      const reporter = new RecordingReporter();
      reporters.push(reporter);
      const mgr = createPodManager({
        runtime: new FakeRuntime({ clock }),
        images: new FakeImageService({ clock }),
        network: new FakePodNetwork({ cidr: `10.${Math.floor(i / 250)}.${i % 250}.0/24` }),
        reporter,
        clock,
        logger: silentLogger(),
        nodeName: `hollow-${i}`,
      });
      mgr.sync(Array.from({ length: 10 }, (_, j) => makePod({ name: `p-${j}` })));
      managers.push(mgr);
    }
    await Promise.all(managers.map((m) => m.idle()));
    await clock.advance(2000);
    await Promise.all(managers.map((m) => m.idle()));
    assert.equal(clock.pendingTimers, 100);
    const running = reporters.flatMap((r) => [...r.statuses.values()].map((l) => at(l.at(-1), 'phase')));
    assert.equal(running.length, 1000);
    assert.ok(running.every((p) => p === 'Running'));
    await Promise.all(managers.map((m) => m.close()));
    assert.equal(clock.pendingTimers, 0);
  });
});
