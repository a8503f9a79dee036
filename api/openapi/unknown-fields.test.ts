import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  dropUnknownFields,
  duplicateFieldError,
  strictDecodingMessage,
  unknownFieldError,
  unknownFields,
} from './unknown-fields.js';

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web',
    namespace: 'default',
    labels: { app: 'web' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'nginx:1.27',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            resources: { limits: { cpu: 1, memory: '64Mi' } },
            readinessProbe: { httpGet: { path: '/', port: 'http' } },
          },
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
        serviceAccount: 'default',
      },
    },
  },
  status: { replicas: 2, conditions: [{ type: 'Available', status: 'True' }] },
};

describe('unknownFields', () => {
  it('accepts a valid manifest with quantities, int-or-string and maps', () => {
    assert.deepEqual(unknownFields('apps/v1', 'Deployment', deployment), []);
  });

  it('reports unknown fields with kube-apiserver paths', () => {
    const bad = structuredClone(deployment) as unknown as {
      spec: { replicass?: number; template: { spec: { containers: Record<string, unknown>[] } } };
      metadata: Record<string, unknown>;
    };
    bad.spec.replicass = 3;
    bad.metadata['labelz'] = {};
    const [container] = bad.spec.template.spec.containers;
    assert.ok(container);
    container['imagee'] = 'x';
    assert.deepEqual(unknownFields('apps/v1', 'Deployment', bad), [
      'metadata.labelz',
      // Document order: the misspelt field was appended after the real ones.
      'spec.template.spec.containers[0].imagee',
      'spec.replicass',
    ]);
    assert.equal(
      strictDecodingMessage([unknownFieldError('spec.replicass'), duplicateFieldError('metadata.name')]),
      'strict decoding error: unknown field "spec.replicass", duplicate field "metadata.name"',
    );
  });

  it('covers core kinds, and is undefined for kinds without a schema', () => {
    assert.deepEqual(
      unknownFields('v1', 'ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', data: { a: 'b' }, dataa: {} }),
      ['dataa'],
    );
    assert.deepEqual(
      unknownFields('v1', 'Service', { spec: { ports: [{ port: 80, targetPort: 8080, nodeport: 1 }] } }),
      ['spec.ports[0].nodeport'],
    );
    assert.deepEqual(
      unknownFields('batch/v1', 'Job', { spec: { backoffLimit: 1, template: { spec: {} } } }),
      [],
    );
    assert.equal(unknownFields('v1', 'Deployment', {}), undefined);
    assert.equal(unknownFields('policy/v1', 'PodDisruptionBudget', {}), undefined);
  });

  it('drops unknown fields from a copy', () => {
    const bad = structuredClone(deployment) as unknown as {
      spec: { replicass?: number; template: { spec: { containers: Record<string, unknown>[] } } };
    };
    bad.spec.replicass = 3;
    const [container] = bad.spec.template.spec.containers;
    assert.ok(container);
    container['imagee'] = 'x';
    const { value, removed } = dropUnknownFields('apps/v1', 'Deployment', bad);
    assert.deepEqual(removed, ['spec.template.spec.containers[0].imagee', 'spec.replicass']);
    assert.deepEqual(value, deployment);
    assert.equal(bad.spec.replicass, 3, 'the input keeps its fields');
    const clean = dropUnknownFields('apps/v1', 'Deployment', deployment);
    assert.equal(clean.value, deployment);
    assert.deepEqual(clean.removed, []);
    const unserved = { anything: 1 };
    assert.equal(dropUnknownFields('policy/v1', 'PodDisruptionBudget', unserved).value, unserved);
  });

  it('does not look inside free-form fields', () => {
    const cr = {
      metadata: {
        name: 'x',
        managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': { 'f:anything': {} } } }],
      },
      revision: 1,
      data: { whatever: { nested: true } },
    };
    assert.deepEqual(unknownFields('apps/v1', 'ControllerRevision', cr), []);
  });
});
