/**
 * The scheduler inside a real `berth server` process, driven by real kubectl 1.32: three Node objects
 * (applied, then made Ready with allocatable through the status subresource, and kept heartbeating),
 * then a ReplicaSet whose pods must spread over them, pods that must follow nodeSelector, taints and
 * tolerations and required anti-affinity by hostname, and a pod that fits nowhere, which must explain
 * itself the way Kubernetes does (`0/3 nodes are available: …` in its PodScheduled condition and a
 * FailedScheduling event) and be scheduled once a node that fits joins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';
import { etcdAvailable, startEtcd, type EtcdHandle } from './harness/etcd.js';

const found = findKubectl();
const skip = found.skip;
if (skip !== undefined) console.log(`# skipping scheduler tests: ${skip}`);

function nodeManifest(name: string, labels: Record<string, string>): string {
  const extra = Object.entries(labels)
    .map(([k, v]) => `\n    ${k}: ${v}`)
    .join('');
  return `
apiVersion: v1
kind: Node
metadata:
  name: ${name}
  labels:
    kubernetes.io/hostname: ${name}${extra}
`;
}

/** The status an agent would post: Ready, with capacity = allocatable. */
function nodeStatus(cpu: string): { status: Record<string, unknown> } {
  const resources = { cpu, memory: '16Gi', pods: '110' };
  return {
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'berth agent is posting ready status',
          lastHeartbeatTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
      ],
    },
  };
}

interface PodOptions {
  labels?: Record<string, string>;
  cpu?: string;
  nodeSelector?: Record<string, string>;
  tolerateGpu?: boolean;
  antiAffinityApp?: string;
}

function podManifest(name: string, o: PodOptions = {}): string {
  const labels = Object.entries(o.labels ?? {})
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const selector = Object.entries(o.nodeSelector ?? {})
    .map(([k, v]) => `\n    ${k}: ${v}`)
    .join('');
  return `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {${labels}}
spec:${selector === '' ? '' : `\n  nodeSelector:${selector}`}${
    o.tolerateGpu === true
      ? `
  tolerations:
  - {key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}`
      : ''
  }${
    o.antiAffinityApp === undefined
      ? ''
      : `
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector:
          matchLabels: {app: ${o.antiAffinityApp}}
        topologyKey: kubernetes.io/hostname`
  }
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: ${o.cpu ?? '100m'}, memory: 64Mi}
`;
}

for (const backend of ['sqlite', 'etcd'] as const) {
  const etcdSkip = backend === 'etcd' ? etcdAvailable() : undefined;
  describe(`scheduler in berth server, with kubectl (--store ${backend})`, { skip: skip ?? etcdSkip }, () => {
    let server: BerthServerHandle;
    let etcd: EtcdHandle | undefined;
    let heartbeats: NodeJS.Timeout | undefined;
    const liveNodes = new Map<string, string>(); // name → cpu
    const k = (args: string[], input?: string) =>
      kubectl(server, args, { kubectlPath: found.path ?? '', ...(input === undefined ? {} : { input }) });

    const apply = async (yaml: string): Promise<void> => {
      const r = await k(['apply', '-f', '-'], yaml);
      assert.equal(r.code, 0, r.stderr);
    };
    /** Where each pod with label `app=<app>` is bound ('' while pending). */
    const placement = async (selector: string): Promise<Map<string, string>> => {
      const r = await k([
        'get',
        'pods',
        '-l',
        selector,
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}={.spec.nodeName}{"\\n"}{end}',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const out = new Map<string, string>();
      for (const line of r.stdout.split('\n')) {
        if (line === '') continue;
        const [name = '', node = ''] = line.split('=');
        out.set(name, node);
      }
      return out;
    };
    const nodeOf = async (pod: string): Promise<string> => {
      const r = await k(['get', 'pod', pod, '-o', 'jsonpath={.spec.nodeName}']);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const podScheduled = async (pod: string, field: 'status' | 'reason' | 'message'): Promise<string> => {
      const r = await k([
        'get',
        'pod',
        pod,
        '-o',
        `jsonpath={.status.conditions[?(@.type=="PodScheduled")].${field}}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    /** Polls until `check` holds; fails with `what` after `ms`. */
    const within = async (ms: number, what: string, check: () => Promise<boolean>): Promise<void> => {
      const start = Date.now();
      for (;;) {
        if (await check()) return;
        if (Date.now() - start > ms) assert.fail(`not within ${ms} ms: ${what}`);
        await new Promise((r) => setTimeout(r, 150));
      }
    };
    /** PATCH …/nodes/NAME/status with a merge patch, as an agent's heartbeat would. */
    const postStatus = (name: string, cpu: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: server.port,
            method: 'PATCH',
            path: `/api/v1/nodes/${name}/status`,
            ca: server.caPem,
            headers: {
              Authorization: `Bearer ${server.token}`,
              'Content-Type': 'application/merge-patch+json',
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              resolve(res.statusCode ?? 0);
            });
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(nodeStatus(cpu)));
      });
    /** Applies a Node, makes it Ready with `kubectl patch --subresource=status`, and heartbeats it. */
    const addNode = async (name: string, cpu: string, labels: Record<string, string> = {}): Promise<void> => {
      await apply(nodeManifest(name, labels));
      const r = await k([
        'patch',
        'node',
        name,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify(nodeStatus(cpu)),
      ]);
      assert.equal(r.code, 0, r.stderr);
      liveNodes.set(name, cpu);
    };

    before(async () => {
      if (backend === 'etcd') {
        etcd = await startEtcd({ name: 'berth-scheduler' });
        server = await startBerthServer({ args: ['--store', 'etcd', '--etcd-endpoints', etcd.endpoint] });
      } else {
        server = await startBerthServer();
      }
      // Keep the fake nodes' heartbeats fresh, so that a node-lifecycle controller (when one runs)
      // does not mark them unreachable in the middle of the test.
      heartbeats = setInterval(() => {
        for (const [name, cpu] of liveNodes) void postStatus(name, cpu).catch(() => undefined);
      }, 2000);
      await addNode('n1', '4', { disk: 'ssd' });
      await addNode('n2', '4', { disk: 'hdd' });
      await addNode('n3', '4');
      const r = await k(['get', 'nodes']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^n1\s+Ready\s/m);
    });
    after(async () => {
      clearInterval(heartbeats);
      liveNodes.clear();
      try {
        await server.destroy();
      } finally {
        await etcd?.stop();
      }
    });

    it('spreads a six-replica ReplicaSet two pods per node', async () => {
      await apply(`
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: spread
spec:
  replicas: 6
  selector:
    matchLabels: {app: spread}
  template:
    metadata:
      labels: {app: spread}
    spec:
      containers:
      - name: app
        image: busybox:1.36
        command: ["sleep", "3600"]
        resources:
          requests: {cpu: 100m, memory: 64Mi}
`);
      let placed = new Map<string, string>();
      await within(30_000, 'six replicas created and bound', async () => {
        placed = await placement('app=spread');
        return placed.size === 6 && [...placed.values()].every((n) => n !== '');
      });
      const perNode: Record<string, number> = {};
      for (const n of placed.values()) perNode[n] = (perNode[n] ?? 0) + 1;
      assert.deepEqual(perNode, { n1: 2, n2: 2, n3: 2 }, JSON.stringify([...placed]));
      const [first, node] = [...placed.entries()][0] ?? ['', ''];
      assert.equal(await podScheduled(first, 'status'), 'True');
      const d = await k(['describe', 'pod', first]);
      assert.equal(d.code, 0, d.stderr);
      assert.match(
        d.stdout,
        new RegExp(
          `Normal\\s+Scheduled\\s+\\S+\\s+default-scheduler\\s+Successfully assigned default/${first} to ${node}`,
        ),
      );
    });

    it('places a pod with a nodeSelector on the only matching node', async () => {
      await apply(podManifest('wants-ssd', { nodeSelector: { disk: 'ssd' } }));
      await within(15_000, 'wants-ssd bound', async () => (await nodeOf('wants-ssd')) !== '');
      assert.equal(await nodeOf('wants-ssd'), 'n1');
    });

    it('keeps pods off a tainted node unless they tolerate the taint', async () => {
      const t = await k(['taint', 'nodes', 'n3', 'dedicated=gpu:NoSchedule']);
      assert.equal(t.code, 0, t.stderr);
      await apply(
        [
          podManifest('gpu-job', { tolerateGpu: true, nodeSelector: { 'kubernetes.io/hostname': 'n3' } }),
          podManifest('no-toleration', { nodeSelector: { 'kubernetes.io/hostname': 'n3' } }),
          ...Array.from({ length: 4 }, (_, i) => podManifest(`plain-${i}`, { labels: { app: 'plain' } })),
        ].join('---'),
      );
      await within(15_000, 'gpu-job bound', async () => (await nodeOf('gpu-job')) !== '');
      assert.equal(await nodeOf('gpu-job'), 'n3');
      let placed = new Map<string, string>();
      await within(15_000, 'the four plain pods bound', async () => {
        placed = await placement('app=plain');
        return placed.size === 4 && [...placed.values()].every((n) => n !== '');
      });
      for (const [pod, n] of placed) assert.notEqual(n, 'n3', `${pod} landed on the tainted node`);
      await within(
        15_000,
        'no-toleration marked unschedulable',
        async () => (await podScheduled('no-toleration', 'status')) === 'False',
      );
      assert.equal(await nodeOf('no-toleration'), '');
      assert.equal(await podScheduled('no-toleration', 'reason'), 'Unschedulable');
      assert.equal(
        await podScheduled('no-toleration', 'message'),
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector.",
      );
    });

    it('honours required pod anti-affinity by hostname', async () => {
      await apply(
        Array.from({ length: 3 }, (_, i) =>
          podManifest(`cache-${i}`, {
            labels: { app: 'cache' },
            tolerateGpu: true,
            antiAffinityApp: 'cache',
          }),
        ).join('---'),
      );
      let placed = new Map<string, string>();
      await within(15_000, 'three cache pods bound', async () => {
        placed = await placement('app=cache');
        return placed.size === 3 && [...placed.values()].every((n) => n !== '');
      });
      assert.deepEqual([...placed.values()].sort(), ['n1', 'n2', 'n3']);
      // A fourth replica has nowhere to go.
      await apply(
        podManifest('cache-3', { labels: { app: 'cache' }, tolerateGpu: true, antiAffinityApp: 'cache' }),
      );
      await within(
        15_000,
        'cache-3 marked unschedulable',
        async () => (await podScheduled('cache-3', 'status')) === 'False',
      );
      assert.equal(
        await podScheduled('cache-3', 'message'),
        // The existing replicas' own anti-affinity rejects it first, which is what Kubernetes reports.
        "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.",
      );
    });

    it('explains an unschedulable pod in describe and its condition, then schedules it when a node fits', async () => {
      await apply(podManifest('huge', { cpu: '64' }));
      const message =
        '0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu.';
      await within(
        15_000,
        'huge marked unschedulable',
        async () => (await podScheduled('huge', 'status')) === 'False',
      );
      assert.equal(await podScheduled('huge', 'reason'), 'Unschedulable');
      assert.equal(await podScheduled('huge', 'message'), message);
      let described = '';
      await within(10_000, 'the FailedScheduling event in describe', async () => {
        const d = await k(['describe', 'pod', 'huge']);
        assert.equal(d.code, 0, d.stderr);
        described = d.stdout;
        return /FailedScheduling/.test(described);
      });
      assert.match(described, /^Node:\s+<none>$/m);
      assert.match(described, /^Status:\s+Pending$/m);
      assert.match(described, /^Conditions:\n\s+Type\s+Status\n\s+PodScheduled\s+False/m);
      assert.match(
        described,
        new RegExp(`Warning\\s+FailedScheduling\\s+\\S+\\s+default-scheduler\\s+${escape(message)}`),
      );

      await addNode('n4', '128');
      await within(15_000, 'huge bound to the new node', async () => (await nodeOf('huge')) === 'n4');
      assert.equal(await podScheduled('huge', 'status'), 'True');
      await within(10_000, 'the Scheduled event in describe', async () => {
        const d = await k(['describe', 'pod', 'huge']);
        return /Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\/huge to n4/.test(
          d.stdout,
        );
      });
    });
  });
}

/** `s` with RegExp metacharacters escaped. */
function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
