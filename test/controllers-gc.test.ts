/**
 * The garbage collector and the namespace controller inside a real `berth server` process, driven by
 * real kubectl 1.32: background, foreground and orphan cascading deletion of objects linked by
 * ownerReferences (created by hand, since no workload controller exists yet), and `kubectl delete
 * namespace` removing the namespace's content and then the namespace — on the SQLite and etcd stores.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';
import { etcdAvailable, startEtcd, type EtcdHandle } from './harness/etcd.js';

const found = findKubectl();
const skip = found.skip;
if (skip !== undefined) console.log(`# skipping controller tests: ${skip}`);

interface Owner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

function ownerRefs(owner: Owner, block: boolean): string {
  return `
  ownerReferences:
  - apiVersion: ${owner.apiVersion}
    kind: ${owner.kind}
    name: ${owner.name}
    uid: ${owner.uid}
    controller: ${block}
    blockOwnerDeletion: ${block}`;
}

function configMap(name: string, extraMeta = '', ns = 'default'): string {
  return `
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: ${ns}${extraMeta}
data:
  k: v
`;
}

function pod(name: string, extraMeta = '', ns = 'default'): string {
  return `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {app: web}${extraMeta}
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
`;
}

for (const backend of ['sqlite', 'etcd'] as const) {
  const etcdSkip = backend === 'etcd' ? etcdAvailable() : undefined;
  describe(
    `garbage collector and namespace controller with kubectl (--store ${backend})`,
    { skip: skip ?? etcdSkip },
    () => {
      let server: BerthServerHandle;
      let etcd: EtcdHandle | undefined;
      const k = (args: string[], input?: string) =>
        kubectl(server, args, { kubectlPath: found.path ?? '', ...(input === undefined ? {} : { input }) });

      const apply = async (yaml: string): Promise<void> => {
        const r = await k(['apply', '-f', '-'], yaml);
        assert.equal(r.code, 0, r.stderr);
      };
      const ownerOf = async (resource: string, name: string, ns = 'default'): Promise<Owner> => {
        const r = await k(['get', resource, name, '-n', ns, '-o', 'json']);
        assert.equal(r.code, 0, r.stderr);
        const o = JSON.parse(r.stdout) as {
          apiVersion: string;
          kind: string;
          metadata: { name: string; uid: string };
        };
        return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid };
      };
      const exists = async (resource: string, name: string, ns = 'default'): Promise<boolean> => {
        const r = await k(['get', resource, name, '-n', ns, '-o', 'name']);
        if (r.code === 0) return true;
        assert.match(r.stderr, /NotFound|not found/, r.stderr);
        return false;
      };
      const json = async (resource: string, name: string, ns = 'default') => {
        const r = await k(['get', resource, name, '-n', ns, '-o', 'json']);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as {
          metadata: {
            deletionTimestamp?: string;
            finalizers?: string[];
            ownerReferences?: { uid: string }[];
          };
          status?: { phase?: string };
        };
      };
      /** Polls until `check` holds; fails after `ms`. */
      const within = async (ms: number, what: string, check: () => Promise<boolean>): Promise<number> => {
        const start = Date.now();
        for (;;) {
          if (await check()) return Date.now() - start;
          if (Date.now() - start > ms) assert.fail(`not within ${ms} ms: ${what}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };

      before(async () => {
        if (backend === 'etcd') {
          etcd = await startEtcd({ name: 'berth-controllers' });
          server = await startBerthServer({ args: ['--store', 'etcd', '--etcd-endpoints', etcd.endpoint] });
        } else {
          server = await startBerthServer();
        }
      });
      after(async () => {
        try {
          await server.destroy();
        } finally {
          await etcd?.stop();
        }
      });

      it('background (kubectl default): deleting a ReplicaSet removes the pods and configmap it owns', async () => {
        await apply(`
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 0
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: busybox:1.36
`);
        const rs = await ownerOf('replicaset', 'web');
        await apply(
          [
            pod('web-1', ownerRefs(rs, true)),
            pod('web-2', ownerRefs(rs, true)),
            configMap('web-cm', ownerRefs(rs, false)),
          ].join('---'),
        );
        await apply(configMap('unrelated'));
        const del = await k(['delete', 'replicaset', 'web']);
        assert.equal(del.code, 0, del.stderr);
        const took = await within(10_000, 'dependents collected', async () => {
          const pods = await k(['get', 'pods', '-l', 'app=web', '-o', 'name']);
          return pods.stdout.trim() === '' && !(await exists('configmap', 'web-cm'));
        });
        console.log(`background cascade took ${took} ms`);
        assert.equal(await exists('configmap', 'unrelated'), true);
      });

      it('--cascade=foreground keeps the owner, terminating, until its blocking dependent is gone', async () => {
        await apply(configMap('fg-owner'));
        const owner = await ownerOf('configmap', 'fg-owner');
        await apply(configMap('fg-blocker', `${ownerRefs(owner, true)}\n  finalizers: [example.com/hold]`));
        await apply(configMap('fg-plain', ownerRefs(owner, false)));
        const del = await k(['delete', 'configmap', 'fg-owner', '--cascade=foreground', '--wait=false']);
        assert.equal(del.code, 0, del.stderr);
        await within(10_000, 'dependents being deleted', async () => {
          const blocker = await json('configmap', 'fg-blocker');
          return blocker.metadata.deletionTimestamp !== undefined && !(await exists('configmap', 'fg-plain'));
        });
        await new Promise((r) => setTimeout(r, 500));
        const waiting = await json('configmap', 'fg-owner');
        assert.ok(waiting.metadata.deletionTimestamp, 'the owner is terminating');
        assert.deepEqual(waiting.metadata.finalizers, ['foregroundDeletion']);
        const patch = await k([
          'patch',
          'configmap',
          'fg-blocker',
          '--type=json',
          '-p',
          '[{"op":"remove","path":"/metadata/finalizers"}]',
        ]);
        assert.equal(patch.code, 0, patch.stderr);
        await within(
          10_000,
          'owner gone after its blocker',
          async () => !(await exists('configmap', 'fg-owner')),
        );
        assert.equal(await exists('configmap', 'fg-blocker'), false);
      });

      it('--cascade=orphan deletes the owner and leaves its dependents without the reference', async () => {
        await apply(configMap('orphan-owner'));
        const owner = await ownerOf('configmap', 'orphan-owner');
        await apply(configMap('orphan-dep', ownerRefs(owner, true)));
        const del = await k(['delete', 'configmap', 'orphan-owner', '--cascade=orphan']);
        assert.equal(del.code, 0, del.stderr);
        await within(10_000, 'owner gone', async () => !(await exists('configmap', 'orphan-owner')));
        const dep = await json('configmap', 'orphan-dep');
        assert.equal(dep.metadata.ownerReferences, undefined);
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(await exists('configmap', 'orphan-dep'), true, 'an orphan is never collected');
      });

      it('kubectl delete namespace removes its content, then the namespace', async () => {
        // (`kubectl create namespace` sends protobuf, which the API server does not accept yet.)
        await apply('apiVersion: v1\nkind: Namespace\nmetadata: {name: doomed}\n');
        await apply(
          [
            configMap('c1', '', 'doomed'),
            pod('unscheduled', '', 'doomed'),
            `
apiVersion: v1
kind: Secret
metadata: {name: s1, namespace: doomed}
stringData: {a: b}
`,
            `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d1, namespace: doomed}
spec:
  selector: {matchLabels: {app: d1}}
  template:
    metadata: {labels: {app: d1}}
    spec: {containers: [{name: c, image: busybox:1.36}]}
`,
          ].join('---'),
        );
        const start = Date.now();
        const del = await k(['delete', 'namespace', 'doomed', '--timeout=20s']);
        assert.equal(del.code, 0, del.stderr);
        await within(5000, 'namespace gone', async () => !(await exists('namespace', 'doomed', 'default')));
        console.log(`namespace deletion took ${Date.now() - start} ms`);
        const got = await k(['get', 'namespace', 'doomed']);
        assert.notEqual(got.code, 0);
        assert.match(got.stderr, /namespaces "doomed" not found/);
        const left = await k(['get', 'configmaps,secrets,pods,deployments', '-n', 'doomed', '-o', 'name']);
        assert.equal(left.stdout.trim(), '');
        // A namespace of the same name can be created again, empty.
        await apply('apiVersion: v1\nkind: Namespace\nmetadata: {name: doomed}\n');
        assert.equal((await k(['get', 'configmaps', '-n', 'doomed', '-o', 'name'])).stdout.trim(), '');
      });

      it('exports the controllers work-queue metrics', async () => {
        const r = await k(['get', '--raw', '/metrics']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          /^workqueue_adds_total\{name="garbage_collector_attempt_to_delete"\} [1-9]\d*$/m,
        );
        assert.match(r.stdout, /^workqueue_adds_total\{name="namespace"\} [1-9]\d*$/m);
        assert.match(r.stdout, /^workqueue_depth\{name="namespace"\} \d+$/m);
      });
    },
  );
}
