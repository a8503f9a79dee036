import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildComponentSchemas, modelClass, schemaName, shortModelName } from './model-schemas.js';

describe('model schemas', () => {
  it('names schemas as Kubernetes does', () => {
    assert.equal(shortModelName('V1PodSpec'), 'PodSpec');
    assert.equal(shortModelName('CoreV1Event'), 'Event');
    assert.equal(shortModelName('V1beta1Foo'), 'Foo');
    assert.equal(schemaName('V1ObjectMeta'), 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    assert.equal(schemaName('V1DeploymentSpec'), 'io.k8s.api.apps.v1.DeploymentSpec');
    assert.equal(schemaName('V1JobSpec'), 'io.k8s.api.batch.v1.JobSpec');
    assert.equal(schemaName('V1PodTemplateSpec'), 'io.k8s.api.core.v1.PodTemplateSpec');
  });

  it('resolves only client-node models', () => {
    assert.ok(modelClass('V1Pod'));
    assert.equal(modelClass('KubeConfig'), undefined);
    assert.equal(modelClass('NoSuchThing'), undefined);
    assert.throws(() => buildComponentSchemas(['NoSuchThing']), TypeError);
  });

  it('walks the reachable models once each and decorates roots', () => {
    const { schemas, classOf } = buildComponentSchemas(['V1ConfigMap'], (c) =>
      c === 'V1ConfigMap' ? { x: 1 } : {},
    );
    assert.deepEqual(Object.keys(schemas), [
      'io.k8s.api.core.v1.ConfigMap',
      'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
      'io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry',
      'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference',
    ]);
    const cm = schemas['io.k8s.api.core.v1.ConfigMap'];
    assert.ok(cm);
    assert.equal(cm['x'], 1);
    assert.deepEqual((cm['properties'] as Record<string, unknown>)['data'], {
      type: 'object',
      additionalProperties: { type: 'string' },
    });
    assert.deepEqual((cm['properties'] as Record<string, unknown>)['binaryData'], {
      type: 'object',
      additionalProperties: { type: 'string', format: 'byte' },
    });
    assert.equal(classOf.get('io.k8s.api.core.v1.ConfigMap'), 'V1ConfigMap');
  });
});
