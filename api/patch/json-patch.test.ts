import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch } from './json-patch.js';
import type { JsonObject } from './json-value.js';

const deployment = (): JsonObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
});

function failure(result: ReturnType<typeof applyJsonPatch>): { reason: string; message: string } {
  if (result.ok) assert.fail('expected a failure');
  return result;
}

describe('applyJsonPatch', () => {
  it('applies replace, add (including "-"), remove, move, copy and a passing test', () => {
    const result = applyJsonPatch(deployment(), [
      { op: 'test', path: '/spec/replicas', value: 2 },
      { op: 'replace', path: '/spec/replicas', value: 3 },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.28' },
      { op: 'add', path: '/spec/template/spec/containers/-', value: { name: 'side', image: 'busybox' } },
      { op: 'add', path: '/metadata/labels/tier', value: 'fe' },
      { op: 'remove', path: '/metadata/labels/app' },
      { op: 'copy', from: '/metadata/labels', path: '/metadata/annotations' },
      { op: 'move', from: '/metadata/annotations/tier', path: '/metadata/annotations/moved' },
    ]);
    assert.ok(result.ok);
    assert.deepEqual(result.value, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', labels: { tier: 'fe' }, annotations: { moved: 'fe' } },
      spec: {
        replicas: 3,
        template: {
          spec: {
            containers: [
              { name: 'web', image: 'nginx:1.28' },
              { name: 'side', image: 'busybox' },
            ],
          },
        },
      },
    });
  });

  it('fails as a whole (422) when a test operation fails, leaving the input untouched', () => {
    const original = deployment();
    const f = failure(
      applyJsonPatch(original, [
        { op: 'replace', path: '/spec/replicas', value: 9 },
        { op: 'test', path: '/spec/replicas', value: 2 },
      ]),
    );
    assert.equal(f.reason, 'Invalid');
    assert.match(f.message, /operation 1 \(test \/spec\/replicas\).*test failed/);
    assert.deepEqual(original, deployment());
  });

  it('reports paths that do not exist with 422', () => {
    for (const op of [
      { op: 'replace', path: '/spec/nope', value: 1 },
      { op: 'remove', path: '/metadata/annotations/x' },
      { op: 'add', path: '/spec/a/b', value: 1 },
    ]) {
      const f = failure(applyJsonPatch(deployment(), [op]));
      assert.equal(f.reason, 'Invalid');
      assert.match(f.message, /missing path/);
    }
    const from = failure(applyJsonPatch(deployment(), [{ op: 'move', from: '/nope', path: '/x' }]));
    assert.match(from.message, /missing from path: "\/nope"/);
    const index = failure(
      applyJsonPatch(deployment(), [{ op: 'add', path: '/spec/template/spec/containers/7', value: {} }]),
    );
    assert.equal(index.reason, 'Invalid');
  });

  it('rejects malformed operation lists with 400', () => {
    const bad: unknown[] = [
      { spec: { replicas: 2 } }, // what a confused client sent in the transcripts
      [{ op: 'bogus', path: '/x' }],
      [{ op: '_get', path: '/x', value: 1 }],
      [{ op: 'add', value: 1 }],
      [{ op: 'add', path: '/x' }],
      [{ op: 'move', path: '/x' }],
      ['add'],
      [{ op: 'add', path: 'x', value: 1 }],
      [{ op: 'add', path: '/__proto__/polluted', value: 1 }],
    ];
    for (const patch of bad) {
      const f = failure(applyJsonPatch(deployment(), patch));
      assert.equal(f.reason, 'BadRequest', JSON.stringify(patch));
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('refuses too many operations with 413 and a non-object result with 422', () => {
    const many = Array.from({ length: 4 }, () => ({ op: 'test', path: '/kind', value: 'Deployment' }));
    assert.equal(
      failure(applyJsonPatch(deployment(), many, { maxOperations: 3 })).reason,
      'RequestEntityTooLarge',
    );
    assert.ok(applyJsonPatch(deployment(), many, { maxOperations: 4 }).ok);
    assert.equal(
      failure(applyJsonPatch(deployment(), [{ op: 'replace', path: '', value: [1] }])).reason,
      'Invalid',
    );
  });

  it('does not alias values from the patch into the result', () => {
    const value = { name: 'x' };
    const result = applyJsonPatch(deployment(), [{ op: 'add', path: '/spec/extra', value }]);
    assert.ok(result.ok);
    ((result.value['spec'] as JsonObject)['extra'] as JsonObject)['name'] = 'changed';
    assert.equal(value.name, 'x');
  });
});
