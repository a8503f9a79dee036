import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregatedContentType, aggregatedDiscovery } from './aggregated.js';

describe('aggregated discovery', () => {
  it('/apis holds the observed deployment entry shape', () => {
    const list = aggregatedDiscovery('apis', 'v2');
    assert.equal(list.kind, 'APIGroupDiscoveryList');
    assert.equal(list.apiVersion, 'apidiscovery.k8s.io/v2');
    assert.deepEqual(list.metadata, {});
    assert.deepEqual(
      list.items.map((i) => i.metadata.name),
      ['apps', 'batch'],
    );
    const apps = list.items[0];
    assert.ok(apps);
    assert.equal(apps.versions.length, 1);
    const [v1] = apps.versions;
    assert.ok(v1);
    assert.equal(v1.version, 'v1');
    assert.equal(v1.freshness, 'Current');
    assert.deepEqual(v1.resources[0], {
      resource: 'deployments',
      responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      scope: 'Namespaced',
      singularResource: 'deployment',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['deploy'],
      categories: ['all'],
      subresources: [
        {
          subresource: 'scale',
          responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
          verbs: ['get', 'patch', 'update'],
        },
        {
          subresource: 'status',
          responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
          verbs: ['get', 'patch', 'update'],
        },
      ],
    });
    const revisions = v1.resources.find((r) => r.resource === 'controllerrevisions');
    assert.ok(revisions);
    assert.equal('subresources' in revisions, false);
    assert.equal('shortNames' in revisions, false);
  });

  it('/api holds one item named "" for core v1 with cluster-scoped nodes', () => {
    const list = aggregatedDiscovery('legacy', 'v2beta1');
    assert.equal(list.apiVersion, 'apidiscovery.k8s.io/v2beta1');
    assert.equal(list.items.length, 1);
    const [core] = list.items;
    assert.ok(core);
    assert.equal(core.metadata.name, '');
    const [coreV1] = core.versions;
    assert.ok(coreV1);
    const rs = coreV1.resources;
    const nodes = rs.find((r) => r.resource === 'nodes');
    assert.ok(nodes);
    assert.equal(nodes.scope, 'Cluster');
    assert.deepEqual(nodes.responseKind, { group: '', version: 'v1', kind: 'Node' });
    const pods = rs.find((r) => r.resource === 'pods');
    assert.deepEqual(
      pods?.subresources?.map((s) => s.subresource),
      ['attach', 'binding', 'eviction', 'exec', 'log', 'status'],
    );
  });

  it('names the content type client-go keys on', () => {
    assert.equal(
      aggregatedContentType('v2'),
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    );
    assert.equal(
      aggregatedContentType('v2beta1'),
      'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList',
    );
  });
});
