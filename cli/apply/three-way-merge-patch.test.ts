import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { schemaForKind } from '../../api/patch/patch-meta.js';
import { applyStrategicMergePatch } from '../../api/patch/strategic-merge-patch.js';
import type { JsonObject } from '../../api/patch/json-value.js';
import { modifiedConfiguration, originalConfiguration } from './apply-configuration.js';
import { createThreeWayMergePatch } from './three-way-merge-patch.js';

const v1 = parse(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - name: A
          value: "1"
      - name: sidecar
        image: busybox
        command: ["sleep", "3600"]
`) as JsonObject;

const v2 = parse(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels:
    app: web
spec:
  replicas: 3
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.28
        env:
        - name: B
          value: "2"
        volumeMounts:
        - name: data
          mountPath: /data
      volumes:
      - name: data
        emptyDir: {}
`) as JsonObject;

const deployment = schemaForKind({ apiVersion: 'apps/v1', kind: 'Deployment' });

function patchFor(original: JsonObject, modified: JsonObject, current: JsonObject): JsonObject {
  const result = createThreeWayMergePatch(original, modified, current, deployment);
  assert.ok(result.ok, result.ok ? '' : result.message);
  return result.value;
}

describe('createThreeWayMergePatch', () => {
  it('computes the patch kubectl 1.32 sent in the recorded transcript', () => {
    const live = modifiedConfiguration(v1).object;
    const modified = modifiedConfiguration(v2);
    const patch = patchFor(originalConfiguration(live)!, modified.object, live);
    // The body kubectl sent (shared/reference/kubectl-transcripts/final.log), against a live object
    // without server defaults.
    assert.deepEqual(patch, {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': modified.annotation } },
      spec: {
        replicas: 3,
        strategy: { type: 'Recreate' },
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }],
            containers: [
              {
                '$setElementOrder/env': [{ name: 'B' }],
                env: [
                  { name: 'B', value: '2' },
                  { $patch: 'delete', name: 'A' },
                ],
                image: 'nginx:1.28',
                name: 'web',
                ports: null,
                volumeMounts: [{ mountPath: '/data', name: 'data' }],
              },
              { $patch: 'delete', name: 'sidecar' },
            ],
            volumes: [{ emptyDir: {}, name: 'data' }],
          },
        },
      },
    });
  });

  it('adds $retainKeys when the live strategy has a member the manifest drops', () => {
    const live = modifiedConfiguration(v1).object;
    (live['spec'] as JsonObject)['strategy'] = {
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
    };
    const patch = patchFor(originalConfiguration(live)!, modifiedConfiguration(v2).object, live);
    assert.deepEqual((patch['spec'] as JsonObject)['strategy'], { $retainKeys: ['type'], type: 'Recreate' });
  });

  it('is empty when the manifest did not change, even with server defaults on the live object', () => {
    const live = modifiedConfiguration(v1).object;
    const spec = live['spec'] as JsonObject;
    spec['progressDeadlineSeconds'] = 600;
    const containers = ((spec['template'] as JsonObject)['spec'] as JsonObject)['containers'] as JsonObject[];
    containers[0]!['imagePullPolicy'] = 'IfNotPresent';
    assert.deepEqual(patchFor(originalConfiguration(live)!, modifiedConfiguration(v1).object, live), {});
  });

  it('gives a patch the server engine applies to exactly the new manifest', () => {
    const live = modifiedConfiguration(v1).object;
    const modified = modifiedConfiguration(v2).object;
    const patch = patchFor(originalConfiguration(live)!, modified, live);
    const applied = applyStrategicMergePatch(live, patch, { apiVersion: 'apps/v1', kind: 'Deployment' });
    assert.ok(applied.ok);
    assert.deepEqual(applied.value, modified);
  });

  it('restores a field changed by someone else without touching fields others added', () => {
    const live = modifiedConfiguration(v1).object;
    const spec = live['spec'] as JsonObject;
    spec['replicas'] = 7; // scaled by hand
    spec['minReadySeconds'] = 5; // added by another writer
    const patch = patchFor(originalConfiguration(live)!, modifiedConfiguration(v1).object, live);
    assert.deepEqual(patch, { spec: { replicas: 2 } });
  });

  it('deletes removed primitives of merge lists with a parallel list', () => {
    const original: JsonObject = { metadata: { finalizers: ['a', 'b'] } };
    const modified: JsonObject = { metadata: { finalizers: ['a'] } };
    const result = createThreeWayMergePatch(original, modified, original, deployment);
    assert.ok(result.ok);
    assert.deepEqual(result.value, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['b'], '$setElementOrder/finalizers': ['a'] },
    });
  });

  it('fails with BadRequest when a merge-list element lacks its key', () => {
    const bad = modifiedConfiguration(v1).object;
    const containers = (((bad['spec'] as JsonObject)['template'] as JsonObject)['spec'] as JsonObject)[
      'containers'
    ] as JsonObject[];
    delete containers[1]!['name'];
    const result = createThreeWayMergePatch(
      originalConfiguration(bad),
      bad,
      modifiedConfiguration(v1).object,
      deployment,
    );
    assert.ok(!result.ok);
    assert.equal(result.reason, 'BadRequest');
  });
});

describe('modifiedConfiguration', () => {
  it('encodes the manifest as kubectl does, with empty annotations and a trailing newline', () => {
    const { annotation } = modifiedConfiguration(v1);
    assert.equal(
      annotation,
      '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"labels":{"app":"web"},' +
        '"name":"web","namespace":"default"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},' +
        '"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"env":[{"name":"A","value":"1"}],' +
        '"image":"nginx:1.27","name":"web","ports":[{"containerPort":80}]},{"command":["sleep","3600"],' +
        '"image":"busybox","name":"sidecar"}]}}}}\n',
    );
  });
});
