/**
 * The DaemonSet, Job and node-lifecycle controllers inside a real `berth server`, driven by real
 * kubectl 1.32, with Node objects made by hand (no agents): a DaemonSet gets one pod per matching
 * node — pinned by node affinity and bound by the scheduler — and `kubectl rollout status` follows it;
 * a Job's pods, marked Succeeded through status writes, make `kubectl wait --for=condition=complete`
 * return; and with a short `--node-monitor-grace-period` a node whose status stops being posted is
 * marked Unknown and tainted, and its pod evicted after `--default-toleration-seconds`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';

const found = findKubectl();
const skip = found.skip;
if (skip !== undefined) console.log(`# skipping DaemonSet/Job controller tests: ${skip}`);

interface PodJson {
  metadata: { name: string; labels?: Record<string, string>; finalizers?: string[] };
  spec: {
    nodeName?: string;
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: {
          nodeSelectorTerms: { matchFields?: { key: string; operator: string; values: string[] }[] }[];
        };
      };
    };
    tolerations?: { key?: string; effect?: string }[];
  };
  status?: { phase?: string };
}

function node(name: string, labels: Record<string, string>): string {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `
apiVersion: v1
kind: Node
metadata:
  name: ${name}
  labels: ${JSON.stringify({ 'kubernetes.io/hostname': name, ...labels })}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
  conditions:
  - {type: Ready, status: "True", reason: KubeletReady, lastHeartbeatTime: "${now}", lastTransitionTime: "${now}"}
`;
}

/** Runs `check` every 200 ms until it holds; fails after `ms`. Returns how long it took. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function client(getServer: () => BerthServerHandle) {
  const k = (args: string[], input?: string, timeoutMs?: number) =>
    kubectl(getServer(), args, {
      kubectlPath: found.path ?? '',
      ...(input === undefined ? {} : { input }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await k(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const podsOf = async (selector: string): Promise<PodJson[]> =>
    (JSON.parse(await ok(['get', 'pods', '-l', selector, '-o', 'json'])) as { items: PodJson[] }).items;
  const setPodStatus = (name: string, status: unknown): Promise<string> =>
    ok(['patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
  return { k, ok, podsOf, setPodStatus };
}

describe('DaemonSet and Job controllers with kubectl', { skip }, () => {
  let server: BerthServerHandle;
  const { k, ok, podsOf, setPodStatus } = client(() => server);

  before(async () => {
    // Hand-made nodes post no heartbeats: a long grace period keeps them Ready for this suite.
    server = await startBerthServer({
      args: ['--agent-listen', '127.0.0.1:0', '--node-monitor-grace-period', '10m'],
    });
    await ok(
      ['apply', '-f', '-'],
      [node('n1', { tier: 'edge' }), node('n2', { tier: 'edge' }), node('n3', { tier: 'core' })].join('---'),
    );
  });
  after(async () => {
    await server.destroy();
  });

  it('a DaemonSet gets one pod per matching node, pinned by affinity and bound by the scheduler', async () => {
    await ok(
      ['apply', '-f', '-'],
      `
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      nodeSelector: {tier: edge}
      containers:
      - name: agent
        image: busybox:1.36
        command: [sleep, "3600"]
        resources: {requests: {cpu: 100m, memory: 32Mi}}
`,
    );
    const took = await within(15_000, 'two daemon pods, bound', async () => {
      const pods = await podsOf('app=agent');
      return pods.length === 2 && pods.every((p) => p.spec.nodeName !== undefined);
    });
    console.log(`daemon pods created and bound in ${took} ms`);
    const pods = await podsOf('app=agent');
    assert.deepEqual(pods.map((p) => p.spec.nodeName).sort(), ['n1', 'n2']);
    for (const p of pods) {
      const terms =
        p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
      assert.deepEqual(terms, [
        { matchFields: [{ key: 'metadata.name', operator: 'In', values: [p.spec.nodeName] }] },
      ]);
      assert.ok(p.metadata.labels?.['controller-revision-hash']);
      assert.ok(
        p.spec.tolerations?.some(
          (t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute',
        ),
      );
    }
    // What an agent would report: running and ready. Then rollout status is satisfied.
    for (const p of pods) {
      await setPodStatus(p.metadata.name, {
        phase: 'Running',
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          },
        ],
      });
    }
    const rollout = await k(['rollout', 'status', 'daemonset/agent', '--timeout=20s']);
    assert.equal(rollout.code, 0, rollout.stderr);
    assert.match(rollout.stdout, /successfully rolled out/);
    const ds = JSON.parse(await ok(['get', 'daemonset', 'agent', '-o', 'json'])) as {
      status: Record<string, number>;
    };
    assert.equal(ds.status['desiredNumberScheduled'], 2);
    assert.equal(ds.status['numberReady'], 2);
    assert.equal(ds.status['numberAvailable'], 2);
    assert.equal(ds.status['updatedNumberScheduled'], 2);
    const history = await ok(['rollout', 'history', 'daemonset/agent']);
    assert.match(history, /^1\s/m, history);
    // A newly matching node gets a pod.
    await ok(['label', 'node', 'n3', 'tier=edge', '--overwrite']);
    await within(15_000, 'a pod on n3', async () =>
      (await podsOf('app=agent')).some((p) => p.spec.nodeName === 'n3'),
    );
  });

  it('records ControllerRevisions that kubectl rollout history and undo work with', async () => {
    await ok(['set', 'image', 'daemonset/agent', 'agent=busybox:1.37']);
    await within(15_000, 'two revisions', async () => {
      const h = await ok(['rollout', 'history', 'daemonset/agent']);
      return /^1\s/m.test(h) && /^2\s/m.test(h);
    });
    const two = await ok(['rollout', 'history', 'daemonset/agent', '--revision=2']);
    assert.match(two, /busybox:1\.37/);
    await ok(['rollout', 'undo', 'daemonset/agent', '--to-revision=1']);
    const image = await ok([
      'get',
      'daemonset',
      'agent',
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ]);
    assert.equal(image, 'busybox:1.36');
    // Rolling back renumbers the old template's revision instead of adding one.
    await within(15_000, 'revisions 2 and 3', async () => {
      const h = await ok(['rollout', 'history', 'daemonset/agent']);
      return /^2\s/m.test(h) && /^3\s/m.test(h) && !/^1\s/m.test(h);
    });
  });

  it('a Job whose pods succeed completes, and kubectl wait --for=condition=complete returns', async () => {
    await ok(
      ['apply', '-f', '-'],
      `
apiVersion: batch/v1
kind: Job
metadata:
  name: batch
spec:
  parallelism: 2
  completions: 4
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox:1.36
        command: [sh, -c, "echo done"]
`,
    );
    const succeeded = new Set<string>();
    const waiter = k(['wait', '--for=condition=complete', 'job/batch', '--timeout=60s'], undefined, 75_000);
    await within(45_000, 'four pods succeeded', async () => {
      const pods = await podsOf('batch.kubernetes.io/job-name=batch');
      const running = pods.filter((p) => p.status?.phase !== 'Succeeded');
      assert.ok(running.length <= 2, `at most parallelism pods run at once (saw ${running.length})`);
      for (const p of running) {
        assert.deepEqual(p.metadata.finalizers, ['batch.kubernetes.io/job-tracking']);
        await setPodStatus(p.metadata.name, { phase: 'Succeeded' });
        succeeded.add(p.metadata.name);
      }
      return succeeded.size >= 4;
    });
    const waited = await waiter;
    assert.equal(waited.code, 0, waited.stderr);
    assert.match(waited.stdout, /job.batch\/batch condition met/);
    const job = JSON.parse(await ok(['get', 'job', 'batch', '-o', 'json'])) as {
      status: {
        succeeded?: number;
        failed?: number;
        completionTime?: string;
        conditions: { type: string }[];
      };
    };
    assert.equal(job.status.succeeded, 4);
    assert.equal(job.status.failed, undefined);
    assert.ok(job.status.completionTime);
    assert.deepEqual(job.status.conditions.map((c) => c.type).sort(), ['Complete', 'SuccessCriteriaMet']);
    assert.equal(succeeded.size, 4, 'exactly completions pods');
    const events = await ok(['get', 'events', '--field-selector', 'involvedObject.name=batch', '-o', 'json']);
    assert.match(events, /SuccessfulCreate/);
    assert.match(events, /Completed/);
  });
});

describe('node lifecycle with kubectl (short grace period)', { skip }, () => {
  let server: BerthServerHandle;
  const { ok, k } = client(() => server);
  let beating = true;
  let heartbeats: Promise<void> | undefined;

  before(async () => {
    server = await startBerthServer({
      args: [
        '--agent-listen',
        '127.0.0.1:0',
        '--node-monitor-grace-period',
        '3s',
        '--default-toleration-seconds',
        '1',
      ],
    });
  });
  after(async () => {
    beating = false;
    await heartbeats;
    await server.destroy();
  });

  it('marks a node that stops posting status Unknown, taints it, and evicts its pod after the toleration', async () => {
    await ok(['apply', '-f', '-'], [node('alive', {}), node('silent', {})].join('---'));
    // `alive` keeps posting its Ready condition, as an agent's heartbeats would.
    heartbeats = (async () => {
      while (beating) {
        const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        await k([
          'patch',
          'node',
          'alive',
          '--subresource=status',
          '--type=json',
          '-p',
          JSON.stringify([{ op: 'replace', path: '/status/conditions/0/lastHeartbeatTime', value: now }]),
        ]);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    for (const [name, nodeName] of [
      ['on-silent', 'silent'],
      ['on-alive', 'alive'],
    ] as const) {
      await ok(
        ['apply', '-f', '-'],
        `
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  nodeName: ${nodeName}
  containers: [{name: c, image: busybox:1.36}]
`,
      );
    }
    const start = Date.now();
    await within(15_000, 'silent node Unknown and tainted unreachable:NoExecute', async () => {
      const n = JSON.parse(await ok(['get', 'node', 'silent', '-o', 'json'])) as {
        spec?: { taints?: { key: string; effect: string }[] };
        status: { conditions: { type: string; status: string; reason?: string }[] };
      };
      const ready = n.status.conditions.find((c) => c.type === 'Ready');
      return (
        ready?.status === 'Unknown' &&
        ready.reason === 'NodeStatusUnknown' &&
        (n.spec?.taints ?? []).some(
          (t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute',
        )
      );
    });
    console.log(
      `silent node marked Unknown and tainted ${Date.now() - start} ms after the pods were created`,
    );
    await within(10_000, 'pod on the silent node evicted', async () => {
      const r = await k(['get', 'pod', 'on-silent', '-o', 'name']);
      return r.code !== 0 && /NotFound|not found/.test(r.stderr);
    });
    console.log(`pod evicted ${Date.now() - start} ms after the pods were created`);
    const alive = JSON.parse(await ok(['get', 'node', 'alive', '-o', 'json'])) as {
      spec?: { taints?: unknown[] };
      status: { conditions: { type: string; status: string }[] };
    };
    assert.equal(alive.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal(alive.spec?.taints, undefined);
    await ok(['get', 'pod', 'on-alive']);
    const events = await ok(['get', 'events', '-o', 'json']);
    assert.match(events, /NodeNotReady/);
    assert.match(events, /TaintManagerEviction/);
  });
});
