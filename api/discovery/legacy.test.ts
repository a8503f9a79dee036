import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiGroupList, apiResourceList, legacyApiVersions } from './legacy.js';

const crud = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

describe('legacy discovery', () => {
  it('GET /api matches the observed minimal APIVersions', () => {
    assert.deepEqual(legacyApiVersions('127.0.0.1:6443'), {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
    });
  });

  it('GET /apis lists the named groups with their preferred version', () => {
    assert.deepEqual(apiGroupList(), {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [
        {
          name: 'apps',
          versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
          preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
        },
        {
          name: 'batch',
          versions: [{ groupVersion: 'batch/v1', version: 'v1' }],
          preferredVersion: { groupVersion: 'batch/v1', version: 'v1' },
        },
      ],
    });
  });

  it('GET /apis/apps/v1 has the observed deployment entries, main resource first', () => {
    const list = apiResourceList('apps', 'v1');
    assert.ok(list);
    assert.equal(list.kind, 'APIResourceList');
    assert.equal(list.apiVersion, 'v1');
    assert.equal(list.groupVersion, 'apps/v1');
    const names = list.resources.map((r) => r.name);
    assert.deepEqual(names, [
      'deployments',
      'deployments/scale',
      'deployments/status',
      'replicasets',
      'replicasets/scale',
      'replicasets/status',
      'daemonsets',
      'daemonsets/status',
      'controllerrevisions',
    ]);
    assert.deepEqual(list.resources.slice(0, 3), [
      {
        name: 'deployments',
        singularName: 'deployment',
        namespaced: true,
        kind: 'Deployment',
        verbs: crud,
        shortNames: ['deploy'],
        categories: ['all'],
      },
      {
        name: 'deployments/scale',
        singularName: '',
        namespaced: true,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      },
      {
        name: 'deployments/status',
        singularName: '',
        namespaced: true,
        kind: 'Deployment',
        verbs: ['get', 'patch', 'update'],
      },
    ]);
    // client-node picks the first entry with a matching kind: it must be the main resource.
    assert.equal(list.resources.find((r) => r.kind === 'Deployment')?.name, 'deployments');
    assert.equal(list.resources.find((r) => r.kind === 'ControllerRevision')?.shortNames, undefined);
  });

  it('GET /api/v1 carries pods subresources with their kinds, and cluster scope for nodes', () => {
    const list = apiResourceList('', 'v1');
    assert.ok(list);
    assert.equal(list.groupVersion, 'v1');
    const byName = new Map(list.resources.map((r) => [r.name, r]));
    assert.deepEqual(byName.get('pods/log'), {
      name: 'pods/log',
      singularName: '',
      namespaced: true,
      kind: 'Pod',
      verbs: ['get'],
    });
    assert.deepEqual(byName.get('pods/exec')?.verbs, ['create', 'get']);
    assert.equal(byName.get('pods/exec')?.kind, 'PodExecOptions');
    assert.equal(byName.get('pods/attach')?.kind, 'PodAttachOptions');
    assert.equal(byName.get('pods/binding')?.kind, 'Binding');
    assert.deepEqual(
      [
        byName.get('pods/eviction')?.group,
        byName.get('pods/eviction')?.version,
        byName.get('pods/eviction')?.kind,
      ],
      ['policy', 'v1', 'Eviction'],
    );
    assert.equal(byName.get('pods/portforward'), undefined);
    assert.equal(byName.get('nodes')?.namespaced, false);
    assert.deepEqual(byName.get('nodes')?.shortNames, ['no']);
    assert.equal(byName.get('namespaces')?.namespaced, false);
    assert.ok(!byName.get('namespaces')?.verbs.includes('deletecollection'));
    assert.deepEqual(byName.get('services')?.categories, ['all']);
    assert.equal(byName.get('secrets')?.shortNames, undefined);
    const names = list.resources.map((r) => r.name);
    for (const [i, name] of names.entries()) {
      const slash = name.indexOf('/');
      if (slash > 0) assert.ok(names.indexOf(name.slice(0, slash)) < i, `${name} listed before its resource`);
    }
  });

  it('returns undefined for an unserved group/version', () => {
    assert.equal(apiResourceList('apps', 'v1beta1'), undefined);
    assert.equal(apiResourceList('metrics.k8s.io', 'v1beta1'), undefined);
  });
});
