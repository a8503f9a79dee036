import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestInfo } from './request-info.js';

const q = (s = ''): URLSearchParams => new URLSearchParams(s);

describe('parseRequestInfo', () => {
  it('recognises discovery paths', () => {
    assert.deepEqual(parseRequestInfo('GET', '/api', q()), { kind: 'discovery-root', root: 'api' });
    assert.deepEqual(parseRequestInfo('GET', '/apis/apps', q()), { kind: 'discovery-group', group: 'apps' });
    assert.deepEqual(parseRequestInfo('GET', '/api/v1', q()), {
      kind: 'discovery-version',
      group: '',
      version: 'v1',
    });
  });

  it('parses namespaced, cluster-scoped and namespace-object paths', () => {
    assert.deepEqual(parseRequestInfo('GET', '/apis/apps/v1/namespaces/default/deployments/web/scale', q()), {
      kind: 'resource',
      group: 'apps',
      version: 'v1',
      namespace: 'default',
      resource: 'deployments',
      name: 'web',
      subresource: 'scale',
      verb: 'get',
    });
    assert.deepEqual(parseRequestInfo('GET', '/api/v1/nodes', q('watch=1')), {
      kind: 'resource',
      group: '',
      version: 'v1',
      resource: 'nodes',
      verb: 'watch',
    });
    assert.deepEqual(parseRequestInfo('PUT', '/api/v1/namespaces/dev/finalize', q()), {
      kind: 'resource',
      group: '',
      version: 'v1',
      resource: 'namespaces',
      name: 'dev',
      subresource: 'finalize',
      verb: 'update',
    });
    assert.equal(parseRequestInfo('DELETE', '/api/v1/namespaces/dev/pods', q()).kind, 'resource');
    assert.equal(
      (parseRequestInfo('DELETE', '/api/v1/namespaces/dev/pods', q()) as { verb: string }).verb,
      'deletecollection',
    );
  });

  it('leaves other paths to other handlers', () => {
    assert.deepEqual(parseRequestInfo('GET', '/healthz', q()), { kind: 'other', path: '/healthz' });
    assert.equal(parseRequestInfo('GET', '/api/v1/namespaces/a/pods/b/log/extra', q()).kind, 'other');
  });
});
