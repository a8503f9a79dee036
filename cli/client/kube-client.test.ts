import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Status } from '../../api/status.js';
import { formatStatusError, withSource } from './error-message.js';
import { fakeDiscovery, FakeTransport, on } from './fake-transport.js';
import { warningTexts } from './http-transport.js';
import { KubeClient, statusFromResponse, tableAccept, type WatchEvent } from './kube-client.js';

describe('KubeClient', () => {
  it('builds kubectl-shaped requests: paths, selectors, Table Accept, write and delete options', async () => {
    const t = new FakeTransport([
      ...fakeDiscovery(),
      (req) => ({ status: req.method === 'POST' ? 201 : 200, body: { kind: 'X' } }),
    ]);
    const c = new KubeClient(t);
    const m = await c.discovery();
    const deploy = m.byName('deploy');
    const ns = m.byName('ns');
    assert.ok(deploy !== undefined && ns !== undefined);
    await c.list(deploy, 'default', {
      labelSelector: 'app=web',
      fieldSelector: 'metadata.name=web',
      table: true,
    });
    await c.get(ns, 'ignored', 'default');
    await c.create(
      deploy,
      'default',
      { kind: 'Deployment' },
      { dryRun: true, fieldManager: 'kubectl-client-side-apply', fieldValidation: 'Strict' },
    );
    await c.patch(
      deploy,
      'default',
      'web',
      'apply',
      { kind: 'Deployment' },
      { fieldManager: 'kubectl', force: false },
    );
    await c.patch(deploy, 'default', 'web', 'merge', { spec: { replicas: 3 } }, { subresource: 'scale' });
    await c.delete(deploy, 'default', 'web', { propagationPolicy: 'Background', gracePeriodSeconds: 0 });
    const sent = t.requests
      .slice(2)
      .map((r) => `${r.method} ${r.path} ${r.headers?.['Content-Type'] ?? ''} ${r.body ?? ''}`);
    assert.deepEqual(sent, [
      'GET /apis/apps/v1/namespaces/default/deployments?labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dweb  ',
      'GET /api/v1/namespaces/default  ',
      'POST /apis/apps/v1/namespaces/default/deployments?dryRun=All&fieldManager=kubectl-client-side-apply&fieldValidation=Strict application/json {"kind":"Deployment"}',
      'PATCH /apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl&force=false application/apply-patch+yaml {"kind":"Deployment"}',
      'PATCH /apis/apps/v1/namespaces/default/deployments/web/scale application/merge-patch+json {"spec":{"replicas":3}}',
      'DELETE /apis/apps/v1/namespaces/default/deployments/web application/json {"propagationPolicy":"Background","gracePeriodSeconds":0}',
    ]);
    assert.equal(t.requests[2]?.headers?.['Accept'], tableAccept);
  });

  it('returns the Status of a failed call, synthesising one for non-Status bodies', async () => {
    const notFound: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'deployments.apps "x" not found',
      reason: 'NotFound',
      code: 404,
    };
    const t = new FakeTransport([
      ...fakeDiscovery(),
      on('GET', /\/x$/, { status: 404, body: notFound }),
      on('GET', /\/y$/, { status: 500, body: 'boom' }),
    ]);
    const c = new KubeClient(t);
    const deploy = (await c.discovery()).byName('deploy');
    assert.ok(deploy !== undefined);
    const x = await c.get(deploy, 'default', 'x');
    assert.equal(
      x.ok ? '' : formatStatusError(x.status),
      'Error from server (NotFound): deployments.apps "x" not found\n',
    );
    const y = await c.get(deploy, 'default', 'y');
    assert.equal(
      y.ok ? '' : formatStatusError(y.status),
      'Error from server (InternalError): an error on the server ("boom") has prevented the request from succeeding (get deployments.apps y)\n',
    );
    assert.equal(
      statusFromResponse(404, '404 page not found', 'get', 'pods x').message,
      'the server could not find the requested resource (get pods x)',
    );
  });

  it('streams watch events and skips blank lines', async () => {
    const t = new FakeTransport([
      ...fakeDiscovery(),
      on('GET', /watch=true/, {
        lines: [
          { type: 'ADDED', object: { metadata: { name: 'a' } } },
          '',
          { type: 'DELETED', object: { metadata: { name: 'a' } } },
        ],
      }),
    ]);
    const c = new KubeClient(t);
    const cm = (await c.discovery()).byName('cm');
    assert.ok(cm !== undefined);
    const w = await c.watch(cm, 'default', { resourceVersion: '5', fieldSelector: 'metadata.name=a' });
    assert.ok(w.ok);
    const types: WatchEvent['type'][] = [];
    for await (const ev of w.value) types.push(ev.type);
    assert.deepEqual(types, ['ADDED', 'DELETED']);
    assert.equal(
      t.requests.at(-1)?.path,
      '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Da&resourceVersion=5&watch=true',
    );
  });
});

describe('kubectl error texts', () => {
  const status = (s: Partial<Status>): Status => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: '',
    reason: '',
    code: 500,
    ...s,
  });

  it('prints Invalid with its causes, one inline or one per line', () => {
    const one = status({
      reason: 'Invalid',
      code: 422,
      details: {
        kind: 'Deployment',
        name: 'web',
        causes: [
          { field: 'spec.replicas', message: 'Invalid value: -1: must be greater than or equal to 0' },
        ],
      },
    });
    assert.equal(
      formatStatusError(one),
      'The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n',
    );
    const two = status({
      reason: 'Invalid',
      code: 422,
      details: {
        kind: 'ConfigMap',
        name: 'c',
        causes: [
          { field: 'a', message: 'x' },
          { field: 'b', message: 'y' },
        ],
      },
    });
    assert.equal(formatStatusError(two), 'The ConfigMap "c" is invalid: \n* a: x\n* b: y\n');
  });

  it('prints Unauthorized, reasons and sources as kubectl does', () => {
    assert.equal(
      formatStatusError(status({ reason: 'Unauthorized', message: 'Unauthorized', code: 401 })),
      'error: You must be logged in to the server (Unauthorized)\n',
    );
    const exists = withSource(
      status({ reason: 'AlreadyExists', message: 'configmaps "c" already exists', code: 409 }),
      'creating',
      'cm.yaml',
    );
    assert.equal(
      formatStatusError(exists),
      'Error from server (AlreadyExists): error when creating "cm.yaml": configmaps "c" already exists\n',
    );
  });

  it('extracts the text of Warning headers', () => {
    assert.deepEqual(warningTexts('299 - "unknown field \\"spec.x\\"", 299 - "second"'), [
      'unknown field "spec.x"',
      'second',
    ]);
    assert.deepEqual(warningTexts(undefined), []);
  });
});
