/**
 * The Deployment and ReplicaSet controllers inside a real `berth server`, driven by real kubectl 1.32:
 * apply → ReplicaSet (`<name>-<pod-template-hash>`, controller ownerReference) → pods; `rollout
 * status` as pods become ready; `set image` rolling out one surge pod at a time; `rollout history`,
 * `rollout undo` and `rollout restart`; `scale`; and `delete` cascading through the garbage collector.
 * No agent runs, so the test plays the agents' part: it marks pods Running and Ready by patching their
 * status subresource (the pods name a scheduler that does not exist, so the scheduler leaves them alone).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';

const found = findKubectl();
const skip = found.skip;
if (skip !== undefined) console.log(`# skipping deployment controller tests: ${skip}`);

const deployment = (image: string, replicas = 3) => `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      schedulerName: berth-test-no-scheduler
      containers:
      - name: app
        image: ${image}
`;

interface Meta {
  name: string;
  uid: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: {
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  deletionTimestamp?: string;
}
interface Obj {
  metadata: Meta;
  spec: { replicas?: number; template?: { spec?: { containers?: { image: string }[] } } };
  status?: {
    replicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string }[];
  };
}

describe('deployment and replicaset controllers with kubectl', { skip }, () => {
  let server: BerthServerHandle;
  const k = (args: string[], input?: string, timeoutMs?: number) =>
    kubectl(server, args, {
      kubectlPath: found.path ?? '',
      ...(input === undefined ? {} : { input }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await k(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const list = async (resource: string): Promise<Obj[]> =>
    (JSON.parse(await ok(['get', resource, '-l', 'app=web', '-o', 'json'])) as { items: Obj[] }).items;
  const within = async (ms: number, what: string, check: () => Promise<boolean>): Promise<void> => {
    const start = Date.now();
    for (;;) {
      if (await check()) return;
      if (Date.now() - start > ms) assert.fail(`not within ${ms} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  /** What an agent reports for a started pod: Running, and Ready as of now. */
  const markReady = async (pod: string): Promise<void> => {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status = {
      status: {
        phase: 'Running',
        startTime: now,
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
          { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
          { type: 'Ready', status: 'True', lastTransitionTime: now },
        ],
      },
    };
    const r = await k([
      'patch',
      'pod',
      pod,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    // The pod may have been deleted by a scale-down meanwhile.
    if (r.code !== 0) assert.match(r.stderr, /NotFound|not found/, r.stderr);
  };
  const isReady = (p: Obj): boolean =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  /** Marks every not-ready pod ready, again and again, until stopped: the agents of this test. */
  const agents = () => {
    const state = { running: true };
    const loop = (async () => {
      while (state.running) {
        for (const p of await list('pods')) {
          if (!isReady(p) && p.metadata.deletionTimestamp === undefined) await markReady(p.metadata.name);
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    return {
      stop: async () => {
        state.running = false;
        await loop;
      },
    };
  };
  /** `kubectl rollout status` while the agents mark pods ready; returns its output. */
  const rollOut = async (): Promise<string> => {
    const a = agents();
    try {
      const r = await k(['rollout', 'status', 'deployment/web', '--timeout=60s'], undefined, 90_000);
      assert.equal(r.code, 0, `rollout status: ${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /deployment "web" successfully rolled out/);
      return r.stdout;
    } finally {
      await a.stop();
    }
  };
  const replicaSets = async (): Promise<Obj[]> => {
    const d = JSON.parse(await ok(['get', 'deployment', 'web', '-o', 'json'])) as Obj;
    return (await list('replicasets')).filter((rs) =>
      rs.metadata.ownerReferences?.some((r) => r.uid === d.metadata.uid && r.controller === true),
    );
  };
  const imageOf = (o: Obj): string => o.spec.template?.spec?.containers?.[0]?.image ?? '';

  before(async () => {
    server = await startBerthServer();
  });
  after(async () => {
    await server.destroy();
  });

  it('apply creates a ReplicaSet and its pods; rollout status waits for them to be ready', async () => {
    assert.match(await ok(['apply', '-f', '-'], deployment('nginx:1.26')), /deployment.apps\/web created/);
    await within(15_000, 'replicaset and 3 pods', async () => (await list('pods')).length === 3);
    const d = JSON.parse(await ok(['get', 'deployment', 'web', '-o', 'json'])) as Obj;
    const [rs, ...more] = await replicaSets();
    assert.ok(rs);
    assert.equal(more.length, 0);
    const hash = rs.metadata.labels?.['pod-template-hash'] ?? '';
    assert.match(hash, /^[456789bcdf]+$/);
    assert.equal(rs.metadata.name, `web-${hash}`);
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
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    for (const pod of await list('pods')) {
      assert.match(pod.metadata.name, new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
      assert.equal(pod.metadata.labels?.['pod-template-hash'], hash);
      assert.deepEqual(
        pod.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller, r.blockOwnerDeletion]),
        [['ReplicaSet', rs.metadata.name, rs.metadata.uid, true, true]],
      );
    }
    const pending = await k(['rollout', 'status', 'deployment/web', '--timeout=2s']);
    assert.notEqual(pending.code, 0, 'not rolled out while no pod is ready');
    assert.match(pending.stdout, /0 of 3 updated replicas are available/);
    await rollOut();
    const got = await ok([
      'get',
      'deployment',
      'web',
      '-o',
      'jsonpath={.status.availableReplicas}/{.status.updatedReplicas}/{.status.observedGeneration}',
    ]);
    assert.equal(got, '3/3/1');
    const describe = await ok(['describe', 'deployment', 'web']);
    assert.match(
      describe,
      new RegExp(
        `ScalingReplicaSet\\s+\\S+\\s+deployment-controller\\s+Scaled up replica set web-${hash} to 3`,
      ),
    );
  });

  it('kubectl set image rolls out a new ReplicaSet one surge pod at a time', async () => {
    const before = await replicaSets();
    assert.match(await ok(['set', 'image', 'deployment/web', 'app=nginx:1.27']), /image updated/);
    const out = await rollOut();
    assert.match(
      out,
      /Waiting for deployment "web" rollout to finish: \d out of 3 new replicas have been updated/,
    );
    const sets = await replicaSets();
    assert.equal(sets.length, 2);
    const next = sets.find((rs) => imageOf(rs) === 'nginx:1.27');
    const prev = sets.find((rs) => rs.metadata.uid === before[0]?.metadata.uid);
    assert.equal(next?.spec.replicas, 3);
    assert.equal(prev?.spec.replicas, 0);
    assert.equal(next.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    const events = await ok([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=web',
      '-o',
      'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
    ]);
    assert.match(events, new RegExp(`Scaled up replica set ${next.metadata.name} to 1\\n`));
    assert.match(events, new RegExp(`Scaled down replica set ${prev.metadata.name} to 0 from 1`));
  });

  it('kubectl rollout history and rollout undo', async () => {
    const history = await ok(['rollout', 'history', 'deployment/web']);
    assert.match(history, /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    const rev1 = await ok(['rollout', 'history', 'deployment/web', '--revision=1']);
    assert.match(rev1, /Image:\s+nginx:1\.26/);
    const v1 = (await replicaSets()).find((rs) => imageOf(rs) === 'nginx:1.26');
    assert.match(await ok(['rollout', 'undo', 'deployment/web']), /deployment.apps\/web rolled back/);
    await rollOut();
    const sets = await replicaSets();
    assert.equal(sets.length, 2, 'the revision-1 ReplicaSet was taken back, not recreated');
    const back = sets.find((rs) => imageOf(rs) === 'nginx:1.26');
    assert.equal(back?.metadata.uid, v1?.metadata.uid);
    assert.equal(back?.spec.replicas, 3);
    assert.equal(back.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    assert.equal(back.metadata.annotations['deployment.kubernetes.io/revision-history'], '1');
    assert.match(
      await ok(['rollout', 'history', 'deployment/web']),
      /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>/,
    );
    const image = await ok([
      'get',
      'deployment',
      'web',
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ]);
    assert.equal(image, 'nginx:1.26');
  });

  it('kubectl rollout restart starts a new ReplicaSet with the same image', async () => {
    assert.match(await ok(['rollout', 'restart', 'deployment/web']), /deployment.apps\/web restarted/);
    await rollOut();
    const sets = await replicaSets();
    assert.equal(sets.length, 3);
    const live = sets.filter((rs) => (rs.spec.replicas ?? 0) > 0);
    assert.equal(live.length, 1);
    assert.equal(imageOf(live[0]!), 'nginx:1.26');
    assert.equal(live[0]?.metadata.annotations?.['deployment.kubernetes.io/revision'], '4');
    const restartedAt = await ok([
      'get',
      'deployment',
      'web',
      '-o',
      "jsonpath={.spec.template.metadata.annotations['kubectl\\.kubernetes\\.io/restartedAt']}",
    ]);
    assert.notEqual(restartedAt, '');
  });

  it('kubectl scale resizes the deployment', async () => {
    assert.match(await ok(['scale', 'deployment/web', '--replicas=5']), /deployment.apps\/web scaled/);
    await rollOut();
    await within(
      10_000,
      '5 pods',
      async () => (await list('pods')).filter((p) => p.metadata.deletionTimestamp === undefined).length === 5,
    );
    assert.equal(await ok(['get', 'deployment', 'web', '-o', 'jsonpath={.status.readyReplicas}']), '5');
    assert.match(await ok(['scale', 'deployment/web', '--replicas=2']), /scaled/);
    await rollOut();
    await within(10_000, '2 pods', async () => (await list('pods')).length === 2);
  });

  it('kubectl delete deployment removes its ReplicaSets and pods', async () => {
    assert.match(await ok(['delete', 'deployment', 'web']), /deployment.apps "web" deleted/);
    await within(15_000, 'replicasets and pods collected', async () => {
      return (await list('replicasets')).length === 0 && (await list('pods')).length === 0;
    });
  });
});
