/**
 * Real kubectl 1.32 against a real `berth server` process: apply (create, configure via strategic
 * merge, unchanged), get as table / wide / json, get -w, scale, set image, diff (must not mutate),
 * delete -f, and the error messages users see.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';
import { etcdAvailable, startEtcd, type EtcdHandle } from './harness/etcd.js';

const found = findKubectl();
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
      assert.match(table.stdout, /^web\s+0\/2\s+0\s+0\s+\d+s/m);
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
      const before = await k(['get', 'deployment', 'web', '-o', 'jsonpath={.metadata.resourceVersion}']);
      const diff = await k(['diff', '-f', '-'], v1);
      assert.equal(diff.code, 1, `kubectl diff exits 1 when there are differences: ${diff.stderr}`);
      assert.match(diff.stdout, /busybox:1\.36/);
      const afterDiff = await k(['get', 'deployment', 'web', '-o', 'jsonpath={.metadata.resourceVersion}']);
      assert.equal(afterDiff.stdout, before.stdout, 'diff must not change the object');
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

    it('deletes what a file describes', async () => {
      const del = await k(['delete', '-f', '-'], v2);
      assert.equal(del.code, 0, del.stderr);
      assert.match(del.stdout, /deployment.apps "web" deleted/);
      const left = await k(['get', 'deployments,services,configmaps', '-o', 'name']);
      assert.doesNotMatch(left.stdout, /web/);
    });
  });
}
