import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  groupResourceOf,
  kindNameOf,
  legacyGroupVersions,
  ResourceMapper,
  resourcesFromAggregated,
  resourcesFromLegacy,
} from './resource-mapper.js';

const aggregated = {
  kind: 'APIGroupDiscoveryList',
  apiVersion: 'apidiscovery.k8s.io/v2',
  metadata: {},
  items: [
    {
      metadata: { name: 'apps' },
      versions: [
        {
          version: 'v1',
          freshness: 'Current',
          resources: [
            {
              resource: 'deployments',
              responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
              scope: 'Namespaced',
              singularResource: 'deployment',
              verbs: ['get', 'list'],
              shortNames: ['deploy'],
              categories: ['all'],
              subresources: [{ subresource: 'scale' }, { subresource: 'status' }],
            },
          ],
        },
      ],
    },
  ],
};

const legacy = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    {
      name: 'pods',
      singularName: 'pod',
      namespaced: true,
      kind: 'Pod',
      verbs: ['get'],
      shortNames: ['po'],
      categories: ['all'],
    },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    {
      name: 'nodes',
      singularName: 'node',
      namespaced: false,
      kind: 'Node',
      verbs: ['get'],
      shortNames: ['no'],
    },
  ],
};

describe('ResourceMapper', () => {
  const mapper = new ResourceMapper([...resourcesFromLegacy(legacy), ...resourcesFromAggregated(aggregated)]);

  it('reads aggregated and legacy discovery, subresources included', () => {
    const deploy = mapper.byKind('apps/v1', 'Deployment');
    assert.deepEqual(deploy?.subresources, ['scale', 'status']);
    assert.equal(deploy.namespaced, true);
    const pods = mapper.byKind('v1', 'Pod');
    assert.deepEqual(pods?.subresources, ['log']);
    assert.equal(mapper.byKind('v1', 'Node')?.namespaced, false);
    assert.deepEqual(legacyGroupVersions({ kind: 'APIVersions', versions: ['v1'] }), ['v1']);
    assert.deepEqual(
      legacyGroupVersions({
        kind: 'APIGroupList',
        groups: [{ preferredVersion: { groupVersion: 'apps/v1' } }],
      }),
      ['apps/v1'],
    );
  });

  it('resolves plural, singular, kind and short names, optionally group-qualified', () => {
    for (const name of [
      'deployments',
      'deployment',
      'Deployment',
      'deploy',
      'deployments.apps',
      'deploy.v1.apps',
    ]) {
      assert.equal(mapper.byName(name)?.kind, 'Deployment', name);
    }
    assert.equal(mapper.byName('po')?.kind, 'Pod');
    assert.equal(mapper.byName('deployments.batch'), undefined);
    assert.equal(mapper.byName('frobnicators'), undefined);
    assert.deepEqual(
      mapper.byCategory('all').map((r) => r.plural),
      ['pods', 'deployments'],
    );
  });

  it('names resources the way kubectl messages do', () => {
    const deploy = mapper.byName('deploy');
    const pod = mapper.byName('pod');
    assert.ok(deploy !== undefined && pod !== undefined);
    assert.equal(groupResourceOf(deploy), 'deployments.apps');
    assert.equal(kindNameOf(deploy), 'deployment.apps');
    assert.equal(groupResourceOf(pod), 'pods');
    assert.equal(kindNameOf(pod), 'pod');
  });
});
