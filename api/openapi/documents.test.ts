import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { resources } from '../resources.js';
import {
  modelClassName,
  openApiV3Document,
  openApiV3Hash,
  openApiV3Index,
  openApiV3Json,
  openApiV3Key,
  parseOpenApiV3Key,
} from './documents.js';

type Json = Record<string, unknown>;
const asJson = (v: unknown): Json => v as Json;

describe('OpenAPI v3 index', () => {
  it('lists every served group/version with a content-hash URL', () => {
    const index = openApiV3Index();
    assert.deepEqual(Object.keys(index.paths), ['api/v1', 'apis/apps/v1', 'apis/batch/v1']);
    for (const [key, entry] of Object.entries(index.paths)) {
      const gv = parseOpenApiV3Key(key);
      assert.ok(gv, key);
      const json = openApiV3Json(gv.group, gv.version);
      assert.ok(json);
      const hash = createHash('sha256').update(json).digest('hex').toUpperCase();
      assert.equal(entry.serverRelativeURL, `/openapi/v3/${key}?hash=${hash}`);
      assert.equal(openApiV3Hash(gv.group, gv.version), hash);
    }
  });

  it('is stable across calls (kubectl caches by URL)', () => {
    assert.deepEqual(openApiV3Index(), openApiV3Index());
    assert.equal(openApiV3Document('apps', 'v1'), openApiV3Document('apps', 'v1'));
  });

  it('parses keys and rejects unserved ones', () => {
    assert.deepEqual(parseOpenApiV3Key('api/v1'), { group: '', version: 'v1' });
    assert.deepEqual(parseOpenApiV3Key('/apis/apps/v1'), { group: 'apps', version: 'v1' });
    assert.equal(parseOpenApiV3Key('apis/apps/v2'), undefined);
    assert.equal(parseOpenApiV3Key('apis/apps'), undefined);
    assert.equal(parseOpenApiV3Key('api/v1/pods'), undefined);
    assert.equal(openApiV3Key('', 'v1'), 'api/v1');
    assert.equal(openApiV3Document('policy', 'v1'), undefined);
  });
});

describe('OpenAPI v3 group/version documents', () => {
  it('give every served kind a PATCH operation kubectl accepts for fieldValidation', () => {
    for (const r of resources) {
      const doc = asJson(openApiV3Document(r.group, r.version));
      assert.equal(doc['openapi'], '3.0.0');
      const paths = asJson(doc['paths']);
      // Mirror cli-runtime's supportsQueryParamV3: any path whose patch op has this GVK object and a
      // fieldValidation query parameter.
      const found = Object.values(paths).some((p) => {
        const patch = asJson(p)['patch'] as Json | undefined;
        if (patch === undefined) return false;
        const gvk = patch['x-kubernetes-group-version-kind'] as Json;
        const params = patch['parameters'] as Json[];
        return (
          gvk['group'] === r.group &&
          gvk['version'] === r.version &&
          gvk['kind'] === r.kind &&
          params.some((x) => x['name'] === 'fieldValidation' && x['in'] === 'query')
        );
      });
      assert.ok(found, `${r.kind} has a patch operation with fieldValidation`);
    }
  });

  it('declares no request body on PATCH, so kubectl uses its built-in merge strategies', () => {
    for (const gv of [
      ['', 'v1'],
      ['apps', 'v1'],
      ['batch', 'v1'],
    ] as const) {
      const paths = asJson(asJson(openApiV3Document(gv[0], gv[1]))['paths']);
      for (const p of Object.values(paths)) {
        const patch = asJson(p)['patch'] as Json | undefined;
        if (patch !== undefined) assert.equal(patch['requestBody'], undefined);
      }
    }
  });

  it('uses the Kubernetes path shapes for namespaced and cluster-scoped kinds', () => {
    const apps = asJson(asJson(openApiV3Document('apps', 'v1'))['paths']);
    assert.ok('/apis/apps/v1/namespaces/{namespace}/deployments/{name}' in apps);
    assert.ok('/apis/apps/v1/namespaces/{namespace}/deployments' in apps);
    const core = asJson(asJson(openApiV3Document('', 'v1'))['paths']);
    assert.ok('/api/v1/nodes/{name}' in core);
    assert.ok('/api/v1/namespaces/{name}' in core);
    assert.ok('/api/v1/namespaces/{namespace}/pods/{name}' in core);
  });

  it('carries schemas with the GVK extension, field structure and patch metadata', () => {
    const schemas = asJson(asJson(asJson(openApiV3Document('apps', 'v1'))['components'])['schemas']);
    const deployment = asJson(schemas['io.k8s.api.apps.v1.Deployment']);
    assert.deepEqual(deployment['x-kubernetes-group-version-kind'], [
      { group: 'apps', kind: 'Deployment', version: 'v1' },
    ]);
    const props = asJson(deployment['properties']);
    assert.deepEqual(Object.keys(props).sort(), ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    assert.deepEqual(props['metadata'], {
      $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
    });
    const specProps = asJson(asJson(schemas['io.k8s.api.apps.v1.DeploymentSpec'])['properties']);
    assert.deepEqual(specProps['replicas'], { type: 'integer', format: 'int32' });
    assert.deepEqual(specProps['strategy'], {
      allOf: [{ $ref: '#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy' }],
      'x-kubernetes-patch-strategy': 'retainKeys',
    });
    const podSpec = asJson(asJson(schemas['io.k8s.api.core.v1.PodSpec'])['properties']);
    assert.deepEqual(podSpec['containers'], {
      type: 'array',
      items: { $ref: '#/components/schemas/io.k8s.api.core.v1.Container' },
      'x-kubernetes-patch-strategy': 'merge',
      'x-kubernetes-patch-merge-key': 'name',
    });
    const container = asJson(asJson(schemas['io.k8s.api.core.v1.Container'])['properties']);
    assert.equal(asJson(container['ports'])['x-kubernetes-patch-merge-key'], 'containerPort');
    const rollingUpdate = asJson(asJson(schemas['io.k8s.api.apps.v1.RollingUpdateDeployment'])['properties']);
    assert.equal(asJson(rollingUpdate['maxSurge'])['x-kubernetes-int-or-string'], true);
    // Referenced schemas are all present.
    const refs = JSON.stringify(schemas).match(/#\/components\/schemas\/[\w.]+/g) ?? [];
    for (const ref of refs) assert.ok(ref.slice('#/components/schemas/'.length) in schemas, ref);
  });

  it('maps every kind to a client-node model', () => {
    assert.deepEqual(
      resources.map((r) => modelClassName(r)),
      [
        'V1Namespace',
        'V1Pod',
        'V1Node',
        'V1Service',
        'V1Endpoints',
        'V1ConfigMap',
        'V1Secret',
        'CoreV1Event',
        'V1Deployment',
        'V1ReplicaSet',
        'V1DaemonSet',
        'V1ControllerRevision',
        'V1Job',
      ],
    );
    const core = asJson(asJson(asJson(openApiV3Document('', 'v1'))['components'])['schemas']);
    for (const kind of ['Namespace', 'Pod', 'Node', 'Service', 'Endpoints', 'ConfigMap', 'Secret', 'Event']) {
      assert.ok(`io.k8s.api.core.v1.${kind}` in core, kind);
    }
  });
});
