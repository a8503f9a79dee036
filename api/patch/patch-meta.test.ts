import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fieldMeta, fieldType, hasPatchStrategy, kindTypes, schemaForKind, types } from './patch-meta.js';
import type { TypeSchema } from './patch-meta.js';
import { resources, apiVersionOf } from '../resources.js';
import { patchMetaByModel } from '../openapi/patch-extensions.js';

const allTypes = types as Readonly<Record<string, TypeSchema>>;

function walk(...path: string[]): ReturnType<typeof fieldMeta> {
  const [kind, ...fields] = path;
  let schema: TypeSchema | undefined = allTypes[kind ?? ''];
  let meta;
  for (const f of fields) {
    meta = fieldMeta(schema, f);
    schema = fieldType(meta);
  }
  return meta;
}

describe('patch-meta', () => {
  it('names only types that exist, and list keys only on map lists', () => {
    for (const [typeName, schema] of Object.entries(allTypes)) {
      for (const [field, meta] of Object.entries(schema.fields)) {
        if (meta.type !== undefined)
          assert.ok(allTypes[meta.type], `${typeName}.${field} names unknown type ${meta.type}`);
        if (meta.listMapKeys !== undefined) assert.equal(meta.listType, 'map', `${typeName}.${field}`);
        if (meta.listType === 'map') assert.ok((meta.listMapKeys?.length ?? 0) > 0, `${typeName}.${field}`);
        if (meta.patchMergeKey !== undefined)
          assert.ok(hasPatchStrategy(meta, 'merge'), `${typeName}.${field}`);
      }
    }
  });

  it('has a schema for every kind the API server serves', () => {
    for (const r of resources) {
      assert.ok(schemaForKind({ apiVersion: apiVersionOf(r), kind: r.kind }), `${apiVersionOf(r)} ${r.kind}`);
    }
    assert.equal(schemaForKind({ apiVersion: 'example.com/v1', kind: 'Widget' }), undefined);
    assert.equal(schemaForKind({ apiVersion: 'apps/v1', kind: 'Pod' }), undefined);
    assert.ok(Object.keys(kindTypes).length >= 3);
  });

  it('mirrors the k8s.io/api 1.32 tags for the fields kubectl relies on', () => {
    const podSpec = ['Deployment', 'spec', 'template', 'spec'];
    const containers = [...podSpec, 'containers'];
    assert.equal(walk(...containers)?.patchMergeKey, 'name');
    assert.equal(walk(...containers, 'env')?.patchMergeKey, 'name');
    assert.equal(walk(...containers, 'ports')?.patchMergeKey, 'containerPort');
    assert.deepEqual(walk(...containers, 'ports')?.listMapKeys, ['containerPort', 'protocol']);
    assert.equal(walk(...containers, 'volumeMounts')?.patchMergeKey, 'mountPath');
    assert.equal(walk(...containers, 'volumeDevices')?.patchMergeKey, 'devicePath');
    assert.equal(walk(...containers, 'envFrom'), undefined);
    assert.equal(walk(...podSpec, 'volumes')?.patchStrategy, 'merge,retainKeys');
    assert.equal(walk(...podSpec, 'tolerations'), undefined);
    assert.equal(walk(...podSpec, 'hostAliases')?.patchMergeKey, 'ip');
    assert.equal(walk(...podSpec, 'topologySpreadConstraints')?.patchMergeKey, 'topologyKey');
    assert.deepEqual(walk(...podSpec, 'topologySpreadConstraints')?.listMapKeys, [
      'topologyKey',
      'whenUnsatisfiable',
    ]);
    assert.equal(walk('Deployment', 'spec', 'strategy')?.patchStrategy, 'retainKeys');
    assert.equal(walk('Service', 'spec', 'ports')?.patchMergeKey, 'port');
    assert.equal(walk('Node', 'spec', 'taints'), undefined);
    assert.equal(walk('Node', 'status', 'addresses')?.listType, 'atomic');
    assert.equal(walk('Pod', 'metadata', 'finalizers')?.listType, 'set');
    assert.equal(walk('Pod', 'metadata', 'ownerReferences')?.patchMergeKey, 'uid');
    assert.equal(walk('Job', 'status', 'conditions')?.patchMergeKey, 'type');
    assert.equal(walk('Job', 'status', 'conditions')?.listType, 'atomic');
    assert.equal(fieldType(walk('Deployment', 'spec', 'selector'))?.atomic, true);
  });

  it('agrees with the strategic-merge extensions published in the OpenAPI documents', () => {
    const modelTypes: Readonly<Record<string, string>> = {
      V1ObjectMeta: 'ObjectMeta',
      V1PodSpec: 'PodSpec',
      V1Container: 'Container',
      V1EphemeralContainer: 'Container',
      V1PodStatus: 'PodStatus',
      V1NodeStatus: 'NodeStatus',
      V1NamespaceStatus: 'NamespaceStatus',
      V1ServiceSpec: 'ServiceSpec',
      V1ServiceStatus: 'ServiceStatus',
      V1DeploymentSpec: 'DeploymentSpec',
      V1DeploymentStatus: 'WorkloadStatus',
      V1ReplicaSetStatus: 'WorkloadStatus',
      V1DaemonSetStatus: 'WorkloadStatus',
      V1JobStatus: 'JobStatus',
    };
    for (const [model, fields] of Object.entries(patchMetaByModel)) {
      const typeName = modelTypes[model];
      assert.ok(typeName !== undefined, `no engine type for ${model}`);
      for (const [field, published] of Object.entries(fields)) {
        const meta = fieldMeta(allTypes[typeName], field);
        assert.equal(meta?.patchStrategy, published.strategy, `${model}.${field}`);
        assert.equal(meta.patchMergeKey, published.mergeKey, `${model}.${field}`);
      }
    }
  });
});
