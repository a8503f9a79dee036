import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { realClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { encodeObject, objectKey } from '../apiserver/object-codec.js';
import { ResourceStorage } from '../apiserver/resource-storage.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite-store.js';
import { ObjectService, podReferences } from './object-service.js';

const res = (plural: string): ResourceInfo => findResource('', 'v1', plural) as ResourceInfo;

describe('ObjectService (node authorizer)', () => {
  let store: SqliteStore;
  let svc: ObjectService;

  async function put(plural: string, obj: StoredObject): Promise<void> {
    const r = await store.create(
      objectKey(res(plural), obj.metadata.namespace, obj.metadata.name ?? ''),
      encodeObject(obj),
    );
    assert.ok(r.ok);
  }

  function pod(
    name: string,
    nodeName: string | undefined,
    spec: Record<string, unknown>,
    namespace = 'ns',
  ): StoredObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, uid: `uid-${name}` },
      spec: {
        containers: [{ name: 'c', image: 'busybox' }],
        ...spec,
        ...(nodeName === undefined ? {} : { nodeName }),
      },
    };
  }

  beforeEach(async () => {
    store = openSqliteStore({ path: ':memory:', logger: silentLogger() });
    const storage = new ResourceStorage({ store, clock: realClock, admission: defaultAdmission });
    svc = new ObjectService({ storage, logger: silentLogger() });
    for (const [plural, kind, name] of [
      ['secrets', 'Secret', 'mine'],
      ['secrets', 'Secret', 'theirs'],
      ['secrets', 'Secret', 'nobodys'],
      ['configmaps', 'ConfigMap', 'cfg'],
    ] as const) {
      await put(plural, { apiVersion: 'v1', kind, metadata: { name, namespace: 'ns' }, data: { k: 'dg==' } });
    }
    await put('pods', pod('a', 'node-a', { volumes: [{ name: 's', secret: { secretName: 'mine' } }] }));
    await put('pods', pod('b', 'node-b', { volumes: [{ name: 's', secret: { secretName: 'theirs' } }] }));
    await put(
      'pods',
      pod('a2', 'node-a', {
        containers: [
          {
            name: 'c',
            image: 'x',
            env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }],
          },
        ],
        volumes: [{ name: 'm', configMap: { name: 'missing-cfg' } }],
      }),
    );
    // Unscheduled pod naming "nobodys": binds no node to it.
    await put(
      'pods',
      pod('pending', undefined, { volumes: [{ name: 's', secret: { secretName: 'nobodys' } }] }),
    );
  });

  afterEach(async () => {
    await store.close();
  });

  it("gives a node the secret of its own pod's volume and the configmap of its env", async () => {
    const s = await svc.get('node-a', { kind: 'Secret', namespace: 'ns', name: 'mine' });
    assert.ok(s.ok);
    assert.equal(s.object?.metadata.name, 'mine');
    const c = await svc.get('node-a', { kind: 'ConfigMap', namespace: 'ns', name: 'cfg' });
    assert.ok(c.ok);
    assert.equal(c.object?.kind, 'ConfigMap');
  });

  it('answers "not found" for a referenced object that does not exist', async () => {
    const out = await svc.get('node-a', { kind: 'ConfigMap', namespace: 'ns', name: 'missing-cfg' });
    assert.deepEqual(out, { ok: true, object: undefined });
  });

  it("refuses another node's pod's secret", async () => {
    const out = await svc.get('node-a', { kind: 'Secret', namespace: 'ns', name: 'theirs' });
    assert.ok(!out.ok);
    assert.equal(out.code, 'denied');
    assert.match(out.message, /no relationship found between node 'node-a' and this object/);
  });

  it('refuses unreferenced objects, existing or not, and references from unscheduled pods', async () => {
    for (const name of ['nobodys', 'does-not-exist']) {
      const out = await svc.get('node-a', { kind: 'Secret', namespace: 'ns', name });
      assert.equal(!out.ok && out.code, 'denied', name);
    }
    // The right name in the wrong namespace is another object.
    const other = await svc.get('node-a', { kind: 'Secret', namespace: 'other', name: 'mine' });
    assert.equal(!other.ok && other.code, 'denied');
    // A ConfigMap named like a referenced Secret is not referenced.
    const kind = await svc.get('node-a', { kind: 'ConfigMap', namespace: 'ns', name: 'mine' });
    assert.equal(!kind.ok && kind.code, 'denied');
  });

  it('rejects kinds other than ConfigMap and Secret', async () => {
    const out = await svc.get('node-a', { kind: 'Pod', namespace: 'ns', name: 'a' });
    assert.equal(!out.ok && out.code, 'invalid');
  });

  it('finds every kind of reference a pod can hold', () => {
    const refs = podReferences(
      pod('p', 'n', {
        imagePullSecrets: [{ name: 'pull' }],
        initContainers: [{ name: 'i', envFrom: [{ secretRef: { name: 'init-env' } }] }],
        containers: [
          {
            name: 'c',
            envFrom: [{ configMapRef: { name: 'cm-env' } }],
            env: [
              { name: 'A', valueFrom: { secretKeyRef: { name: 'sk', key: 'k' } } },
              { name: 'B', valueFrom: { configMapKeyRef: { name: 'ck', key: 'k' } } },
            ],
          },
        ],
        ephemeralContainers: [
          { name: 'e', env: [{ name: 'C', valueFrom: { secretKeyRef: { name: 'eph', key: 'k' } } }] },
        ],
        volumes: [
          { name: 'v1', configMap: { name: 'cm-vol' } },
          { name: 'v2', secret: { secretName: 's-vol' } },
          {
            name: 'v3',
            projected: {
              sources: [
                { configMap: { name: 'cm-proj' } },
                { secret: { name: 's-proj' } },
                { downwardAPI: {} },
              ],
            },
          },
          { name: 'v4', csi: { driver: 'x', nodePublishSecretRef: { name: 's-csi' } } },
          { name: 'v5', rbd: { secretRef: { name: 's-rbd' } } },
          { name: 'v6', azureFile: { secretName: 's-az', shareName: 'x' } },
        ],
      }),
    );
    assert.deepEqual([...refs.configMaps].sort(), ['ck', 'cm-env', 'cm-proj', 'cm-vol']);
    assert.deepEqual([...refs.secrets].sort(), [
      'eph',
      'init-env',
      'pull',
      's-az',
      's-csi',
      's-proj',
      's-rbd',
      's-vol',
      'sk',
    ]);
  });
});
