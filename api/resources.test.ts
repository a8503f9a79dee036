import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiVersionOf,
  findResource,
  findResourceByKind,
  findResourceByName,
  groupVersions,
  parseApiVersion,
  resources,
} from './resources.js';

describe('resource registry', () => {
  it('serves the agreed set of resources, each once', () => {
    const keys = resources.map((r) => `${apiVersionOf(r)}/${r.plural}`);
    assert.deepEqual(keys, [
      'v1/namespaces',
      'v1/pods',
      'v1/nodes',
      'v1/services',
      'v1/endpoints',
      'v1/configmaps',
      'v1/secrets',
      'v1/events',
      'apps/v1/deployments',
      'apps/v1/replicasets',
      'apps/v1/daemonsets',
      'apps/v1/controllerrevisions',
      'batch/v1/jobs',
    ]);
    assert.equal(new Set(keys).size, keys.length);
  });

  it('carries the names, scope and subresources kubectl relies on', () => {
    const pods = findResource('', 'v1', 'pods');
    assert.ok(pods);
    assert.equal(pods.kind, 'Pod');
    assert.equal(pods.listKind, 'PodList');
    assert.equal(pods.singular, 'pod');
    assert.deepEqual(pods.shortNames, ['po']);
    assert.deepEqual(pods.categories, ['all']);
    assert.deepEqual([...pods.subresources].sort(), [
      'attach',
      'binding',
      'eviction',
      'exec',
      'log',
      'status',
    ]);

    const deploy = findResource('apps', 'v1', 'deployments');
    assert.ok(deploy);
    assert.deepEqual(deploy.subresources, ['scale', 'status']);
    assert.deepEqual(deploy.verbs, [
      'create',
      'delete',
      'deletecollection',
      'get',
      'list',
      'patch',
      'update',
      'watch',
    ]);

    assert.equal(findResource('', 'v1', 'namespaces')?.namespaced, false);
    assert.equal(findResource('', 'v1', 'nodes')?.namespaced, false);
    assert.equal(findResource('', 'v1', 'endpoints')?.kind, 'Endpoints');
    assert.equal(findResource('', 'v1', 'endpoints')?.listKind, 'EndpointsList');
    assert.equal(findResource('apps', 'v1', 'pods'), undefined);
    assert.equal(findResource('', 'v1', 'serviceaccounts'), undefined);
  });

  it('puts exactly the Kubernetes "all" members in category all', () => {
    const all = resources.filter((r) => r.categories.includes('all')).map((r) => r.plural);
    assert.deepEqual(all, ['pods', 'services', 'deployments', 'replicasets', 'daemonsets', 'jobs']);
  });

  it('finds by apiVersion and kind', () => {
    assert.equal(findResourceByKind('apps/v1', 'Deployment')?.plural, 'deployments');
    assert.equal(findResourceByKind('v1', 'ConfigMap')?.plural, 'configmaps');
    assert.equal(findResourceByKind('batch/v1', 'Job')?.plural, 'jobs');
    assert.equal(findResourceByKind('v1', 'Deployment'), undefined);
    assert.equal(findResourceByKind('apps/v1beta1', 'Deployment'), undefined);
  });

  it('resolves command-line names like a RESTMapper', () => {
    assert.equal(findResourceByName('deploy')?.kind, 'Deployment');
    assert.equal(findResourceByName('Deployment')?.kind, 'Deployment');
    assert.equal(findResourceByName('deployments.apps')?.kind, 'Deployment');
    assert.equal(findResourceByName('deployments.batch'), undefined);
    assert.equal(findResourceByName('po')?.kind, 'Pod');
    assert.equal(findResourceByName('svc')?.kind, 'Service');
    assert.equal(findResourceByName('nope'), undefined);
  });

  it('lists group/versions once each, core first', () => {
    assert.deepEqual(groupVersions(), [
      { group: '', version: 'v1' },
      { group: 'apps', version: 'v1' },
      { group: 'batch', version: 'v1' },
    ]);
    assert.deepEqual(parseApiVersion('apps/v1'), { group: 'apps', version: 'v1' });
    assert.deepEqual(parseApiVersion('v1'), { group: '', version: 'v1' });
    assert.equal(apiVersionOf({ group: '', version: 'v1' }), 'v1');
  });

  it('is immutable', () => {
    assert.throws(() => {
      (resources as ResourceLike[]).push({} as ResourceLike);
    });
    const pods = findResource('', 'v1', 'pods');
    assert.throws(() => {
      (pods as { plural: string }).plural = 'x';
    });
  });
});

type ResourceLike = (typeof resources)[number];
