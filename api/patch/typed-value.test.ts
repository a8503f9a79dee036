import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareValues, mergeApplied, removeFieldSet, rootNode, toFieldSet } from './typed-value.js';
import { fieldSetOf, fieldSetPaths, toFieldsV1 } from './fields-v1.js';
import { schemaForKind } from './patch-meta.js';
import type { JsonObject, JsonValue } from './json-value.js';

const pod = rootNode(schemaForKind({ apiVersion: 'v1', kind: 'Pod' }));
const containers = ['f:spec', 'f:containers'];

function podWith(list: JsonValue[], extra: JsonObject = {}): JsonObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: list, ...extra } };
}

function names(obj: JsonObject): JsonValue[] {
  const spec = obj['spec'] as JsonObject;
  return (spec['containers'] as JsonObject[]).map((c) => c['name'] ?? null);
}

describe('toFieldSet', () => {
  it('owns leaves, list elements, nulls, empty objects and atomic values; not struct fields', () => {
    const set = toFieldSet(
      podWith([{ name: 'c', ports: [{ containerPort: 80 }], resources: {} }], {
        nodeSelector: { a: 'b' },
        tolerations: [{ key: 'k' }],
        priority: null,
      }),
      pod,
    );
    assert.deepEqual(toFieldsV1(set), {
      'f:apiVersion': {},
      'f:kind': {},
      'f:metadata': { 'f:name': {} },
      'f:spec': {
        'f:containers': {
          'k:{"name":"c"}': {
            '.': {},
            'f:name': {},
            'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
            'f:resources': {},
          },
        },
        'f:nodeSelector': {},
        'f:priority': {},
        'f:tolerations': {},
      },
    });
  });
});

describe('compareValues', () => {
  it('reports leaves, appearing and disappearing elements and maps, but not schema structs', () => {
    const before = podWith([
      { name: 'web', image: 'nginx:1', env: [{ name: 'A', value: '1' }] },
      { name: 'side', image: 'busybox' },
    ]);
    const after = podWith(
      [
        {
          name: 'web',
          image: 'nginx:2',
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
        },
      ],
      {
        nodeName: 'n1',
      },
    );
    (after['metadata'] as JsonObject)['labels'] = { app: 'x' };
    const c = compareValues(before, after, pod);
    assert.deepEqual(fieldSetPaths(c.modified), [[...containers, 'k:{"name":"web"}', 'f:image']]);
    assert.deepEqual(fieldSetPaths(c.removed), [
      [...containers, 'k:{"name":"side"}'],
      [...containers, 'k:{"name":"side"}', 'f:image'],
      [...containers, 'k:{"name":"side"}', 'f:name'],
    ]);
    assert.deepEqual(fieldSetPaths(c.added), [
      ['f:metadata', 'f:labels'],
      ['f:metadata', 'f:labels', 'f:app'],
      [...containers, 'k:{"name":"web"}', 'f:env', 'k:{"name":"B"}'],
      [...containers, 'k:{"name":"web"}', 'f:env', 'k:{"name":"B"}', 'f:name'],
      [...containers, 'k:{"name":"web"}', 'f:env', 'k:{"name":"B"}', 'f:value'],
      ['f:spec', 'f:nodeName'],
    ]);
    const created = compareValues({}, after, pod);
    assert.equal(
      fieldSetPaths(created.added).some((p) => p.length === 1 && p[0] === 'f:spec'),
      false,
    );
    assert.equal(
      fieldSetPaths(created.added).some((p) => p.join() === 'f:spec,f:containers'),
      true,
    );
  });
});

describe('mergeApplied', () => {
  const merge = (live: string[], applied: string[]): JsonValue[] =>
    names(
      mergeApplied(
        podWith(live.map((name) => ({ name, from: 'live' }))),
        podWith(applied.map((name) => ({ name, from: 'applied' }))),
        pod,
      ),
    );

  it('keeps the applied order and slots live-only elements where they were', () => {
    assert.deepEqual(merge(['a', 'b'], ['c', 'b']), ['a', 'c', 'b']);
    assert.deepEqual(merge(['a', 'b', 'c'], ['c', 'a']), ['b', 'c', 'a']);
    assert.deepEqual(merge(['a', 'b', 'x'], ['b', 'a']), ['b', 'x', 'a']);
    assert.deepEqual(merge(['a'], ['b', 'c']), ['a', 'b', 'c']);
    assert.deepEqual(merge([], ['b', 'c']), ['b', 'c']);
  });

  it('merges matching elements field by field and replaces atomic values', () => {
    const out = mergeApplied(
      podWith([{ name: 'a', image: '1', args: ['x'], imagePullPolicy: 'Always' }], {
        tolerations: [{ key: 'a' }],
      }),
      podWith([{ name: 'a', image: '2', args: ['y'] }], { tolerations: [{ key: 'b' }] }),
      pod,
    );
    assert.deepEqual(out['spec'], {
      containers: [{ name: 'a', image: '2', args: ['y'], imagePullPolicy: 'Always' }],
      tolerations: [{ key: 'b' }],
    });
  });
});

describe('removeFieldSet', () => {
  it('removes members, drops what it empties and keeps what was already empty', () => {
    const value = podWith([{ name: 'a', image: '1', resources: {} }, { name: 'b' }], {
      nodeSelector: { x: '1' },
    });
    (value['metadata'] as JsonObject)['labels'] = { only: 'one' };
    const out = removeFieldSet(
      value,
      fieldSetOf([
        [...containers, 'k:{"name":"b"}'],
        [...containers, 'k:{"name":"a"}', 'f:image'],
        ['f:metadata', 'f:labels', 'f:only'],
        ['f:spec', 'f:nodeSelector'],
      ]),
      pod,
    );
    assert.deepEqual(out, podWith([{ name: 'a', resources: {} }]));
  });
});
