/**
 * Real kubectl 1.32 against a real `berth server` process: apply (create, configure via strategic
 * merge, unchanged), get as table / wide / json, get -w, scale, set image, diff (must not mutate),
 * server-side field validation (Strict / Warn / Ignore), describe with events, pod binding, delete -f,
 * and the error messages users see.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';
import { etcdAvailable, startEtcd, type EtcdHandle } from './harness/etcd.js';

const found = findKubectl();

/** `s` with RegExp metacharacters escaped. */
function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One authenticated HTTPS request with a raw JSON body, for what kubectl does not show (headers). */
function https(
  server: BerthServerHandle,
  method: string,
  path: string,
  body: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        ca: server.caPem,
        headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
const skip = found.skip;
if (skip !== undefined) console.log(`# skipping kubectl tests: ${skip}`);

const v1 = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: busybox:1.36
        command: ["sleep", "3600"]
        env:
        - {name: MODE, value: blue}
        - {name: KEEP, value: "yes"}
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`;

// The changed version: image changed, the sidecar removed, env changed.
const v2 = v1
  .replace(
    'image: busybox:1.36\n        command: ["sleep", "3600"]\n        env',
    'image: busybox:1.37\n        command: ["sleep", "3600"]\n        env',
  )
  .replace('{name: MODE, value: blue}', '{name: MODE, value: green}')
  .replace(/ {6}- name: sidecar\n {8}image: busybox:1.36\n {8}command: \["sleep", "3600"\]\n/, '');

for (const backend of ['sqlite', 'etcd'] as const) {
  const etcdSkip = backend === 'etcd' ? etcdAvailable() : undefined;
  describe(`kubectl against berth server (--store ${backend})`, { skip: skip ?? etcdSkip }, () => {
    let server: BerthServerHandle;
    let etcd: EtcdHandle | undefined;
    const k = (args: string[], input?: string) =>
      kubectl(server, args, { kubectlPath: found.path ?? '', ...(input === undefined ? {} : { input }) });

    before(async () => {
      if (backend === 'etcd') {
        etcd = await startEtcd({ name: 'berth-kubectl' });
        server = await startBerthServer({ args: ['--store', 'etcd', '--etcd-endpoints', etcd.endpoint] });
      } else {
        server = await startBerthServer();
      }
    });
    after(async () => {
      await server.destroy();
      await etcd?.stop();
    });

    it('applies, re-applies with strategic merge, and reports unchanged', async () => {
      const first = await k(['apply', '-f', '-'], v1);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /configmap\/web-config created/);
      assert.match(first.stdout, /deployment.apps\/web created/);
      assert.match(first.stdout, /service\/web created/);

      const second = await k(['apply', '-f', '-'], v2);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /deployment.apps\/web configured/);
      assert.match(second.stdout, /configmap\/web-config unchanged/);

      const got = await k(['get', 'deployment', 'web', '-o', 'json']);
      assert.equal(got.code, 0, got.stderr);
      const d = JSON.parse(got.stdout) as {
        metadata: { generation: number };
        spec: {
          template: {
            spec: { containers: { name: string; image: string; env?: { name: string; value: string }[] }[] };
          };
        };
      };
      const containers = d.spec.template.spec.containers;
      assert.deepEqual(
        containers.map((c) => c.name),
        ['app'],
        'the removed sidecar is gone',
      );
      assert.equal(containers[0]?.image, 'busybox:1.37');
      assert.deepEqual(containers[0].env, [
        { name: 'MODE', value: 'green' },
        { name: 'KEEP', value: 'yes' },
      ]);
      assert.equal(d.metadata.generation, 2, 'a spec change bumps generation');

      const third = await k(['apply', '-f', '-'], v2);
      assert.match(third.stdout, /deployment.apps\/web unchanged/);
    });

    it('gets tables, wide tables and JSON', async () => {
      const table = await k(['get', 'deployments']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE/m);
      // The deployment controller creates the pods at once (UP-TO-DATE 2); with no agent none is available.
      assert.match(table.stdout, /^web\s+0\/2\s+[0-2]\s+0\s+\d+s/m);
      const wide = await k(['get', 'deployments', '-o', 'wide']);
      assert.match(wide.stdout, /CONTAINERS\s+IMAGES\s+SELECTOR/);
      assert.match(wide.stdout, /busybox:1\.37/);
      const svc = await k(['get', 'svc', 'web']);
      assert.match(svc.stdout, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE/m);
      const ns = await k(['get', 'namespaces', '-o', 'name']);
      assert.match(ns.stdout, /namespace\/default/);
      assert.match(ns.stdout, /namespace\/kube-system/);
    });

    it('scales and sets an image', async () => {
      const scaled = await k(['scale', 'deployment', 'web', '--replicas=4']);
      assert.equal(scaled.code, 0, scaled.stderr);
      const set = await k(['set', 'image', 'deployment/web', 'app=busybox:1.38']);
      assert.equal(set.code, 0, set.stderr);
      const got = await k([
        'get',
        'deployment',
        'web',
        '-o',
        'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}',
      ]);
      assert.equal(got.stdout, '4 busybox:1.38');
    });

    it('diffs without mutating (dryRun=All)', async () => {
      // generation and the template, not resourceVersion: the deployment controller may write the
      // status of the previous test's rollout at any moment.
      const spec = '{.metadata.generation} {.spec.replicas} {.spec.template.spec.containers[0].image}';
      const before = await k(['get', 'deployment', 'web', '-o', `jsonpath=${spec}`]);
      const diff = await k(['diff', '-f', '-'], v1);
      assert.equal(diff.code, 1, `kubectl diff exits 1 when there are differences: ${diff.stderr}`);
      assert.match(diff.stdout, /busybox:1\.36/);
      const afterDiff = await k(['get', 'deployment', 'web', '-o', `jsonpath=${spec}`]);
      assert.equal(afterDiff.stdout, before.stdout, 'diff must not change the object');
      assert.match(afterDiff.stdout, /^\d+ 4 busybox:1\.38$/);
    });

    it('streams changes to get -w', async () => {
      const child = spawn(
        found.path ?? '',
        [
          '--kubeconfig',
          server.kubeconfig,
          '--cache-dir',
          join(server.dataDir, 'kubectl-cache'),
          'get',
          'configmaps',
          '-w',
          '--output-watch-events',
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      try {
        const waitFor = async (re: RegExp): Promise<void> => {
          const deadline = Date.now() + 15_000;
          while (!re.test(out)) {
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(re)}; got:\n${out}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        };
        await waitFor(/ADDED\s+web-config/);
        const created = await k([
          'create',
          'configmap',
          'watched',
          '--from-literal=a=b',
          '--dry-run=client',
          '-o',
          'yaml',
        ]);
        await k(['apply', '-f', '-'], created.stdout);
        await waitFor(/ADDED\s+watched/);
        await k(['label', 'configmap', 'watched', 'tier=x']);
        await waitFor(/MODIFIED\s+watched/);
        await k(['delete', 'configmap', 'watched']);
        await waitFor(/DELETED\s+watched/);
      } finally {
        child.kill();
      }
    });

    it('shows Kubernetes errors', async () => {
      const missing = await k(['get', 'pod', 'nope']);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /Error from server \(NotFound\): pods "nope" not found/);
      const unknown = await k(['get', 'widgets']);
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, /the server doesn't have a resource type "widgets"/);
    });

    it('applies server-side with field ownership and conflicts', async () => {
      const cm = `
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa}
data: {owner: first, shared: one}
`;
      const first = await k(['apply', '--server-side', '--field-manager=team-a', '-f', '-'], cm);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /configmap\/ssa serverside-applied/);
      const other = await k(
        ['apply', '--server-side', '--field-manager=team-b', '-f', '-'],
        cm.replace('shared: one', 'shared: two').replace('owner: first', 'other: x'),
      );
      assert.notEqual(other.code, 0, 'a field owned by another manager with a different value conflicts');
      assert.match(other.stderr, /conflict with "team-a"/);
      assert.match(other.stderr, /\.data\.shared/);
      const forced = await k(
        ['apply', '--server-side', '--force-conflicts', '--field-manager=team-b', '-f', '-'],
        cm.replace('shared: one', 'shared: two').replace('owner: first', 'other: x'),
      );
      assert.equal(forced.code, 0, forced.stderr);
      const got = await k(['get', 'configmap', 'ssa', '-o', 'json', '--show-managed-fields']);
      const obj = JSON.parse(got.stdout) as {
        data: Record<string, string>;
        metadata: { managedFields: { manager: string; operation: string }[] };
      };
      assert.deepEqual(obj.data, { owner: 'first', shared: 'two', other: 'x' });
      assert.deepEqual(obj.metadata.managedFields.map((m) => `${m.manager}/${m.operation}`).sort(), [
        'team-a/Apply',
        'team-b/Apply',
      ]);
      // team-a stops applying `owner` (and agrees on `shared`): owner is removed, as nobody else owns it.
      const shrink = await k(
        ['apply', '--server-side', '--field-manager=team-a', '-f', '-'],
        cm.replace('owner: first, ', '').replace('shared: one', 'shared: two'),
      );
      assert.equal(shrink.code, 0, shrink.stderr);
      const after = await k(['get', 'configmap', 'ssa', '-o', 'jsonpath={.data}']);
      assert.deepEqual(JSON.parse(after.stdout), { shared: 'two', other: 'x' });
    });

    it('rejects an invalid manifest with the field paths kubectl prints', async () => {
      const bad = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  replicas: -1
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: other}}
    spec:
      containers: [{name: app, image: busybox}]
`;
      const res = await k(['apply', '-f', '-'], bad);
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /The Deployment "broken" is invalid:/);
      assert.match(res.stderr, /spec\.replicas: Invalid value: -1: must be greater than or equal to 0/);
      assert.match(
        res.stderr,
        /spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`/,
      );
      const none = await k(['get', 'deployment', 'broken']);
      assert.match(none.stderr, /not found/, 'nothing half-written');
    });

    it('rejects unknown fields under the default strict validation; --validate=false drops them', async () => {
      const typo = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: typo}
spec:
  replicas: 1
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec:
      containers: [{name: app, image: busybox, imagePullPolicyy: Always}]
`;
      const field = 'spec.template.spec.containers[0].imagePullPolicyy';
      const strict = await k(['apply', '-f', '-'], typo);
      assert.notEqual(strict.code, 0);
      assert.match(
        strict.stderr,
        new RegExp(
          escape(
            `Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "${field}"`,
          ),
        ),
      );
      assert.match((await k(['get', 'deployment', 'typo'])).stderr, /not found/);

      const warn = await k(['apply', '--validate=warn', '-f', '-'], typo);
      assert.equal(warn.code, 0, warn.stderr);
      assert.match(warn.stderr, new RegExp(escape(`Warning: unknown field "${field}"`)));
      const stored = await k([
        'get',
        'deployment',
        'typo',
        '-o',
        'jsonpath={.spec.template.spec.containers[0]}',
      ]);
      assert.equal(stored.code, 0, stored.stderr);
      const container = JSON.parse(stored.stdout) as Record<string, unknown>;
      assert.equal(container['image'], 'busybox');
      assert.ok(!('imagePullPolicyy' in container), 'unknown fields are dropped, not stored');

      // A changed manifest with the typo goes through PATCH; strict validation checks the patched object.
      const changed = typo.replace('replicas: 1', 'replicas: 2');
      const patch = await k(['apply', '-f', '-'], changed);
      assert.notEqual(patch.code, 0);
      assert.match(patch.stderr, new RegExp(escape(`strict decoding error: unknown field "${field}"`)));
      const ignored = await k(['apply', '--validate=false', '-f', '-'], changed);
      assert.equal(ignored.code, 0, ignored.stderr);
      assert.doesNotMatch(ignored.stderr, /Warning/);
      assert.equal((await k(['get', 'deployment', 'typo', '-o', 'jsonpath={.spec.replicas}'])).stdout, '2');

      const ssa = await k(['apply', '--server-side', '-f', '-'], typo);
      assert.notEqual(ssa.code, 0);
      assert.match(ssa.stderr, new RegExp(escape(`strict decoding error: unknown field "${field}"`)));
      const ssaIgnored = await k(
        ['apply', '--server-side', '--force-conflicts', '--validate=false', '-f', '-'],
        typo,
      );
      assert.equal(ssaIgnored.code, 0, ssaIgnored.stderr);
      await k(['delete', 'deployment', 'typo']);
    });

    it('reports repeated keys, warns in a Warning header, and refuses an unknown directive', async () => {
      const path = '/api/v1/namespaces/default/configmaps';
      const dup = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1","a":"2"}}';
      // kubectl itself decodes files (collapsing repeats) before sending; --raw sends the bytes as they are.
      const strict = await k(['create', '--raw', `${path}?fieldValidation=Strict`, '-f', '-'], dup);
      assert.notEqual(strict.code, 0);
      assert.match(
        strict.stderr,
        /ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data\.a"/,
      );
      const withTypo =
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"dataa":{}}';
      const warned = await https(server, 'POST', `${path}?fieldValidation=Warn`, withTypo);
      assert.equal(warned.status, 201, warned.body);
      assert.equal(warned.headers['warning'], '299 - "unknown field \\"dataa\\""');
      assert.equal((JSON.parse(warned.body) as Record<string, unknown>)['dataa'], undefined);
      const defaulted = await https(server, 'PUT', `${path}/dup`, dup);
      assert.equal(defaulted.status, 200, defaulted.body);
      assert.equal(
        defaulted.headers['warning'],
        '299 - "duplicate field \\"data.a\\""',
        'without the parameter, Warn is the default',
      );
      const bogus = await https(server, 'POST', `${path}?fieldValidation=strict`, dup);
      assert.equal(bogus.status, 422);
      assert.equal(
        (JSON.parse(bogus.body) as { message: string }).message,
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"',
      );
      await k(['delete', 'configmap', 'dup']);
    });

    it('describes deployments, pods and namespaces with their events', async () => {
      const shop = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, labels: {app: shop}}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: app, image: busybox:1.36, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: shop-pod, labels: {app: shop}}
spec:
  containers: [{name: app, image: busybox:1.36}]
`;
      const applied = await k(['apply', '-f', '-'], shop);
      assert.equal(applied.code, 0, applied.stderr);
      const get = async (args: string[]): Promise<string> => {
        const res = await k(['get', ...args]);
        assert.equal(res.code, 0, res.stderr);
        return res.stdout;
      };
      const deployment = JSON.parse(await get(['deployment', 'shop', '-o', 'json'])) as {
        metadata: { uid: string };
        spec: { template: { metadata: { labels: Record<string, string> } } };
      };
      const podUid = await get(['pod', 'shop-pod', '-o', 'jsonpath={.metadata.uid}']);
      // What the deployment controller would have made: a ReplicaSet it controls, with its template.
      const template = structuredClone(deployment.spec.template);
      template.metadata.labels['pod-template-hash'] = '7c9d';
      const rs = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: 'shop-7c9d',
          labels: { app: 'shop', 'pod-template-hash': '7c9d' },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name: 'shop',
              uid: deployment.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'shop', 'pod-template-hash': '7c9d' } },
          template,
        },
      };
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const event = (name: string, involved: object, reason: string, from: string, message: string) => ({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name },
        involvedObject: { namespace: 'default', ...involved },
        type: 'Normal',
        reason,
        message,
        source: { component: from },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      const objects = [
        rs,
        event(
          'shop.1',
          { apiVersion: 'apps/v1', kind: 'Deployment', name: 'shop', uid: deployment.metadata.uid },
          'ScalingReplicaSet',
          'deployment-controller',
          'Scaled up replica set shop-7c9d to 1',
        ),
        event(
          'shop-pod.1',
          { apiVersion: 'v1', kind: 'Pod', name: 'shop-pod', uid: podUid },
          'Scheduled',
          'default-scheduler',
          'Successfully assigned default/shop-pod to n1',
        ),
        // Same name, another uid: an earlier pod of that name, which describe must not show.
        event(
          'shop-pod.0',
          { apiVersion: 'v1', kind: 'Pod', name: 'shop-pod', uid: 'an-older-pod' },
          'Killing',
          'kubelet',
          'Stopping container app of an older pod',
        ),
      ];
      const created = await k(['apply', '-f', '-'], objects.map((o) => stringifyYaml(o)).join('---\n'));
      assert.equal(created.code, 0, created.stderr);

      // Bind the pod the way the scheduler does; a second binding is a Conflict, worded as Kubernetes does.
      const binding = JSON.stringify({
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: 'shop-pod' },
        target: { apiVersion: 'v1', kind: 'Node', name: 'n1' },
      });
      const bindPath = '/api/v1/namespaces/default/pods/shop-pod/binding';
      const bound = await k(['create', '--raw', bindPath, '-f', '-'], binding);
      assert.equal(bound.code, 0, bound.stderr);
      const again = await k(['create', '--raw', bindPath, '-f', '-'], binding.replace('"n1"', '"n2"'));
      assert.notEqual(again.code, 0);
      assert.match(
        again.stderr,
        /Error from server \(Conflict\): Operation cannot be fulfilled on pods\/binding "shop-pod": pod shop-pod is already assigned to node "n1"/,
      );

      const stale = await k(
        ['create', '--raw', bindPath, '-f', '-'],
        binding.replace('"name":"shop-pod"', '"name":"shop-pod","uid":"not-this-pod"'),
      );
      assert.match(
        stale.stderr,
        /Operation cannot be fulfilled on pods "shop-pod": Precondition failed: UID in precondition: not-this-pod, UID in object meta: /,
      );

      const eventsTable = /Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message\n\s+----/;
      const dd = await k(['describe', 'deployment', 'shop']);
      assert.equal(dd.code, 0, dd.stderr);
      assert.match(dd.stdout, /^Name:\s+shop$/m);
      assert.match(dd.stdout, /^Selector:\s+app=shop$/m);
      // The deployment controller makes its own ReplicaSet (named by the template hash) for the template.
      assert.match(dd.stdout, /^NewReplicaSet:\s+shop-\w+ \([01]\/1 replicas created\)$/m);
      assert.match(dd.stdout, eventsTable);
      assert.match(
        dd.stdout,
        /Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set shop-7c9d to 1/,
      );

      const dp = await k(['describe', 'pod', 'shop-pod']);
      assert.equal(dp.code, 0, dp.stderr);
      assert.match(dp.stdout, /^Node:\s+n1/m);
      assert.match(dp.stdout, /^\s+PodScheduled\s+True/m);
      assert.match(dp.stdout, eventsTable);
      assert.match(
        dp.stdout,
        /Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\/shop-pod to n1/,
      );
      assert.doesNotMatch(dp.stdout, /older pod/, 'events of another object with the same name');

      const dn = await k(['describe', 'namespace', 'default']);
      assert.equal(dn.code, 0, dn.stderr);
      assert.match(dn.stdout, /^Name:\s+default$/m);
      assert.match(dn.stdout, /^Status:\s+Active$/m);

      // The garbage collector may remove the ReplicaSet once its deployment is gone.
      const cleanup = await k([
        'delete',
        'deployment/shop',
        'replicaset/shop-7c9d',
        'pod/shop-pod',
        '--wait=false',
        '--ignore-not-found',
      ]);
      assert.equal(cleanup.code, 0, cleanup.stderr);
    });

    it('deletes what a file describes', async () => {
      const del = await k(['delete', '-f', '-'], v2);
      assert.equal(del.code, 0, del.stderr);
      assert.match(del.stdout, /deployment.apps "web" deleted/);
      const left = await k(['get', 'deployments,services,configmaps', '-o', 'name']);
      assert.doesNotMatch(left.stdout, /web/);
    });
  });
}
