import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyStrategicMergePatch } from '../../api/patch/strategic-merge-patch.js';
import { isJsonObject, type JsonObject } from '../../api/patch/json-value.js';
import { fakeDiscovery, on } from '../client/fake-transport.js';
import { runApply } from './apply-command.js';
import { fakeVerbDeps } from './fake-verb-deps.js';

const manifest = (image: string): string =>
  `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: "${image}"}
`;

/** A one-object API server: create, get and strategic-merge patch of deployments/web. */
function server(): { handlers: ReturnType<typeof fakeDiscovery>; stored: () => JsonObject | undefined } {
  let stored: JsonObject | undefined;
  const path = '/apis/apps/v1/namespaces/default/deployments';
  return {
    stored: () => stored,
    handlers: [
      ...fakeDiscovery(),
      on('GET', `${path}/web`, () =>
        stored === undefined
          ? {
              status: 404,
              body: {
                kind: 'Status',
                apiVersion: 'v1',
                metadata: {},
                status: 'Failure',
                message: 'deployments.apps "web" not found',
                reason: 'NotFound',
                code: 404,
              },
            }
          : { body: stored },
      ),
      on('POST', /deployments\?/, (req) => {
        const body: unknown = JSON.parse(req.body ?? '{}');
        if (isJsonObject(body) && !req.path.includes('dryRun')) stored = { ...body, status: { replicas: 0 } };
        return { status: 201, body };
      }),
      on('PATCH', /deployments\/web\?/, (req) => {
        assert.equal(req.headers?.['Content-Type'], 'application/strategic-merge-patch+json');
        const result = applyStrategicMergePatch(stored ?? {}, JSON.parse(req.body ?? '{}'), {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
        });
        assert.ok(result.ok);
        stored = result.value;
        return { body: stored };
      }),
    ],
  };
}

describe('runApply', () => {
  it('creates, then reports unchanged, then configures through a three-way patch', async () => {
    const s = server();
    const files = { 'v1.yaml': manifest('busybox:1.36'), 'v2.yaml': manifest('busybox:1.37') };
    for (const [file, expected] of [
      ['v1.yaml', 'deployment.apps/web created\n'],
      ['v1.yaml', 'deployment.apps/web unchanged\n'],
      ['v2.yaml', 'deployment.apps/web configured\n'],
    ] as const) {
      const deps = fakeVerbDeps(s.handlers, files);
      assert.equal(await runApply({ filename: [file] }, deps), 0, deps.stderr());
      assert.equal(deps.stdout(), expected);
      const writes = deps.transport.requests.filter((r) => r.method !== 'GET');
      if (expected.endsWith('unchanged\n')) assert.deepEqual(writes, [], 'no write when nothing changed');
      for (const w of writes)
        assert.match(w.path, /fieldManager=kubectl-client-side-apply&fieldValidation=Strict/);
    }
    const containers = (
      ((s.stored()?.['spec'] as JsonObject)['template'] as JsonObject)['spec'] as JsonObject
    )['containers'];
    assert.deepEqual(containers, [{ name: 'app', image: 'busybox:1.37' }]);
  });

  it('sends nothing with --dry-run=client and reports per-object errors, continuing', async () => {
    const s = server();
    const deps = fakeVerbDeps(
      s.handlers,
      {},
      `${manifest('x')}---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n`,
    );
    assert.equal(await runApply({ filename: ['-'], dryRun: 'client' }, deps), 1);
    assert.equal(deps.stdout(), 'deployment.apps/web created (dry run)\n');
    assert.match(
      deps.stderr(),
      /^error: resource mapping not found for name: "w" namespace: "": no matches for kind "Widget" in version "example.com\/v1"\n$/,
    );
    assert.equal(s.stored(), undefined);
  });

  it('refuses an object naming another namespace than an explicit -n', async () => {
    const deps = fakeVerbDeps(server().handlers, {
      'a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other}\n',
    });
    assert.equal(await runApply({ filename: ['a.yaml'], namespace: 'mine' }, deps), 1);
    assert.match(
      deps.stderr(),
      /the namespace from the provided object "other" does not match the namespace "mine"/,
    );
  });

  it('applies server-side with the kubectl field manager and force', async () => {
    const deps = fakeVerbDeps(
      [
        ...fakeDiscovery(),
        on('PATCH', /deployments\/web\?/, (req) => ({ body: JSON.parse(req.body ?? '{}') as unknown })),
      ],
      { 'v1.yaml': manifest('a') },
    );
    assert.equal(
      await runApply({ filename: ['v1.yaml'], serverSide: true, forceConflicts: true }, deps),
      0,
      deps.stderr(),
    );
    assert.equal(deps.stdout(), 'deployment.apps/web serverside-applied\n');
    const patch = deps.transport.requests.at(-1);
    assert.ok(patch !== undefined);
    assert.equal(patch.headers?.['Content-Type'], 'application/apply-patch+yaml');
    assert.match(patch.path, /fieldManager=kubectl&fieldValidation=Strict&force=true$/);
    assert.doesNotMatch(patch.body ?? '', /last-applied/);
  });
});
