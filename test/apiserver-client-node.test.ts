/**
 * @kubernetes/client-node (1.4) against `berth server` run in-process: loadAllYaml +
 * KubernetesObjectApi create/read/patch/delete, an informer that sees adds, updates and deletes and
 * re-lists after a server restart, and a watch from a compacted resourceVersion ending in 410 Expired. Also: objects survive a restart,
 * and a watch resumed from the last resourceVersion gets what changed meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { silentLogger } from '../lib/logger.js';
import { startServer, type RunningServer } from '../controller/server.js';
import { freePort } from './harness/ports.js';

async function eventually(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('@kubernetes/client-node against berth server', () => {
  let dir: string;
  let port: number;
  let server: RunningServer;
  const start = (listenPort: number): Promise<RunningServer> =>
    startServer({
      dataDir: dir,
      listenHost: '127.0.0.1',
      listenPort,
      store: 'sqlite',
      logger: silentLogger(),
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-client-node-'));
    port = await freePort();
    server = await start(port);
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const kubeConfig = (): k8s.KubeConfig => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    return kc;
  };

  it('creates, reads, patches and deletes objects from YAML with KubernetesObjectApi', async () => {
    const client = k8s.KubernetesObjectApi.makeApiClient(kubeConfig());
    const docs = k8s.loadAllYaml(`
apiVersion: v1
kind: ConfigMap
metadata: {name: app-settings, namespace: default}
data: {color: blue}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: "busybox:1.36"}]
`) as k8s.KubernetesObject[];
    for (const doc of docs) await client.create(doc);
    const cm = await client.read<k8s.V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-settings', namespace: 'default' },
    });
    assert.equal(cm.data?.['color'], 'blue');
    assert.ok(cm.metadata?.uid);
    await client.patch({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-settings', namespace: 'default' },
      data: { size: 'L' },
    } as k8s.KubernetesObject);
    const patched = await client.read<k8s.V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'app-settings', namespace: 'default' },
    });
    assert.deepEqual(patched.data, { color: 'blue', size: 'L' });
    const dep = await client.read<k8s.V1Deployment>({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: 'default' },
    });
    assert.equal(dep.spec?.template.spec?.containers[0]?.image, 'busybox:1.36');
    for (const doc of docs) await client.delete(doc);
    await assert.rejects(
      client.read({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'app-settings', namespace: 'default' },
      }),
      (err: unknown) => err instanceof k8s.ApiException && err.code === 404,
    );
  });

  it('runs an informer through adds, updates, deletes and a server restart with compaction (re-list)', async () => {
    const kc = kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', () =>
      core.listNamespacedConfigMap({ namespace: 'default' }),
    );
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name ?? ''}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name ?? ''} ${o.data?.['v'] ?? ''}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name ?? ''}`));
    let stopped = false;
    informer.on('error', () => {
      // The documented client-node pattern: restart the informer after a connection error.
      if (!stopped) setTimeout(() => void informer.start().catch(() => undefined), 200);
    });
    await informer.start();
    try {
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name: 'a' }, data: { v: '1' } },
      });
      await eventually('add a', () => seen.includes('add a'));
      await core.patchNamespacedConfigMap(
        { namespace: 'default', name: 'a', body: { data: { v: '2' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await eventually('update a 2', () => seen.includes('update a 2'));
      await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'a' });
      await eventually('delete a', () => seen.includes('delete a'));

      // Restart the server; while the informer cannot reach it, another server on the same data
      // writes and compacts, so the informer's resourceVersion is gone when it comes back: 410.
      await server.close();
      const other = await start(await freePort());
      const otherCore = (() => {
        const okc = new k8s.KubeConfig();
        okc.loadFromFile(other.kubeconfigPath);
        return okc.makeApiClient(k8s.CoreV1Api);
      })();
      await otherCore.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name: 'b' }, data: { v: '1' } },
      });
      await other.store.compact(await other.store.currentRevision());
      await other.close();
      server = await start(port);
      await eventually('add b after relist', () => seen.includes('add b'), 30_000);
    } finally {
      stopped = true;
      await informer.stop();
    }
  });

  it('keeps objects across a restart and resumes a watch from a resourceVersion', async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'durable' }, data: { v: '1' } },
    });
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const rv = list.metadata?.resourceVersion ?? '';
    await core.patchNamespacedConfigMap(
      { namespace: 'default', name: 'durable', body: { data: { v: '2' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await server.close();
    server = await start(port);
    const kc = kubeConfig();
    const again = await kc
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedConfigMap({ namespace: 'default', name: 'durable' });
    assert.equal(again.data?.['v'], '2');
    const events: string[] = [];
    const watch = new k8s.Watch(kc);
    const req = await watch.watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: rv },
      (type, obj: k8s.V1ConfigMap) => {
        events.push(`${type} ${obj.metadata?.name ?? ''} ${obj.data?.['v'] ?? ''}`);
      },
      () => undefined,
    );
    try {
      await eventually('the change made before the restart', () => events.includes('MODIFIED durable 2'));
      assert.ok(!events.some((e) => e.startsWith('ADDED durable')), 'only changes after the resourceVersion');
    } finally {
      req.abort();
    }
  });

  it('ends a watch from a compacted resourceVersion with a 410 Expired event', async () => {
    const kc = kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const old =
      (await core.listNamespacedConfigMap({ namespace: 'default' })).metadata?.resourceVersion ?? '';
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'after-old' } } });
    await server.store.compact(await server.store.currentRevision());
    const events: { type: string; code?: number; reason?: string }[] = [];
    let done = false;
    const req = await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: old },
      (type, obj: { code?: number; reason?: string }) => {
        events.push({
          type,
          ...(obj.code === undefined ? {} : { code: obj.code }),
          ...(obj.reason === undefined ? {} : { reason: obj.reason }),
        });
      },
      () => {
        done = true;
      },
    );
    try {
      await eventually('the ERROR event and the end of the stream', () => done);
      assert.deepEqual(events, [{ type: 'ERROR', code: 410, reason: 'Expired' }]);
    } finally {
      req.abort();
    }
  });
});
