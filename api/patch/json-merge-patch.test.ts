import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonMergePatch, mergePatchValue } from './json-merge-patch.js';
import type { JsonObject } from './json-value.js';

const deployment = (): JsonObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
});

describe('applyJsonMergePatch', () => {
  it('kubectl scale: {"spec":{"replicas":5}}', () => {
    const result = applyJsonMergePatch(deployment(), { spec: { replicas: 5 } });
    assert.ok(result.ok);
    assert.equal((result.value['spec'] as JsonObject)['replicas'], 5);
    assert.deepEqual(
      (result.value['spec'] as JsonObject)['template'],
      deployment()['spec'] && (deployment()['spec'] as JsonObject)['template'],
    );
  });

  it('kubectl label / annotate, including removal with null', () => {
    const result = applyJsonMergePatch(deployment(), {
      metadata: { labels: { tier: 'fe', app: null }, annotations: { note: 'x' } },
    });
    assert.ok(result.ok);
    assert.deepEqual(result.value['metadata'], {
      name: 'web',
      namespace: 'default',
      labels: { tier: 'fe' },
      annotations: { note: 'x' },
    });
  });

  it('replaces arrays wholesale and replaces a non-object with an object', () => {
    const result = applyJsonMergePatch(deployment(), {
      spec: { template: { spec: { containers: [{ name: 'other' }] } } },
      status: { replicas: 1 },
    });
    assert.ok(result.ok);
    assert.deepEqual(result.value['spec'], {
      replicas: 2,
      template: { spec: { containers: [{ name: 'other' }] } },
    });
    assert.deepEqual(result.value['status'], { replicas: 1 });
  });

  it('follows the RFC 7386 appendix examples', () => {
    const examples: [unknown, unknown, unknown][] = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [
        ['a', 'b'],
        ['c', 'd'],
        ['c', 'd'],
      ],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, expected] of examples) {
      assert.deepEqual(
        mergePatchValue(target as never, patch as never),
        expected,
        JSON.stringify([target, patch]),
      );
    }
  });

  it('does not modify its inputs', () => {
    const original = deployment();
    const patch = { spec: { replicas: null, template: { spec: { x: [1] } } } };
    const copy = structuredClone(patch);
    const result = applyJsonMergePatch(original, patch);
    assert.ok(result.ok);
    assert.deepEqual(original, deployment());
    assert.deepEqual(patch, copy);
    ((result.value['spec'] as JsonObject)['template'] as JsonObject)['spec'] = {};
    assert.deepEqual(patch, copy);
  });

  it('rejects a patch that is not a JSON object with 400', () => {
    for (const bad of [[{ op: 'add' }], 'x', null, 3]) {
      const result = applyJsonMergePatch(deployment(), bad);
      assert.equal(result.ok, false);
      assert.equal(result.reason, 'BadRequest');
    }
  });
});
