import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  differenceFieldSets,
  fieldSetOf,
  fieldSetPaths,
  fromFieldsV1,
  hasPath,
  intersectFieldSets,
  isEmptyFieldSet,
  pathToString,
  toFieldsV1,
  unionFieldSets,
  withoutPrefixes,
} from './fields-v1.js';

const web = 'k:{"name":"web"}';

describe('FieldsV1', () => {
  it('round-trips a Kubernetes managedFields entry, with "." for members that have children', () => {
    const fieldsV1 = {
      'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:template': {
          'f:spec': {
            'f:containers': {
              [web]: {
                '.': {},
                'f:image': {},
                'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
              },
            },
          },
        },
      },
      'f:metadata2': { 'v:"a"': {}, 'i:10': {}, 'i:2': {} },
    };
    const set = fromFieldsV1(fieldsV1);
    assert.ok(set !== undefined);
    assert.deepEqual(toFieldsV1(set), {
      ...fieldsV1,
      'f:metadata2': { 'v:"a"': {}, 'i:2': {}, 'i:10': {} },
    });
    assert.equal(hasPath(set, ['f:metadata', 'f:labels']), true);
    assert.equal(hasPath(set, ['f:spec']), false);
    assert.equal(hasPath(set, ['f:spec', 'f:template', 'f:spec', 'f:containers', web, 'f:image']), true);
    assert.equal(JSON.stringify(Object.keys(toFieldsV1(set))), '["f:metadata","f:metadata2","f:spec"]');
  });

  it('rejects malformed FieldsV1', () => {
    for (const bad of [
      [],
      'x',
      { 'x:y': {} },
      { 'f:a': 1 },
      { 'k:notjson': {} },
      { 'k:"str"': {} },
      { 'i:x': {} },
      { 'f:': {} },
    ]) {
      assert.equal(fromFieldsV1(bad as never), undefined, JSON.stringify(bad));
    }
  });

  it('does set algebra on exact paths', () => {
    const a = fieldSetOf([['f:spec', 'f:replicas'], ['f:spec', 'f:paused'], ['f:metadata']]);
    const b = fieldSetOf([['f:spec', 'f:replicas'], ['f:spec']]);
    assert.deepEqual(fieldSetPaths(differenceFieldSets(a, b)), [['f:metadata'], ['f:spec', 'f:paused']]);
    assert.deepEqual(fieldSetPaths(intersectFieldSets(a, b)), [['f:spec', 'f:replicas']]);
    assert.deepEqual(fieldSetPaths(unionFieldSets(a, b)), [
      ['f:metadata'],
      ['f:spec'],
      ['f:spec', 'f:paused'],
      ['f:spec', 'f:replicas'],
    ]);
    assert.deepEqual(fieldSetPaths(withoutPrefixes(a, [['f:spec']])), [['f:metadata']]);
    assert.equal(isEmptyFieldSet(differenceFieldSets(a, a)), true);
    assert.equal(isEmptyFieldSet(a), false);
  });

  it('prints paths as Kubernetes does in conflict messages', () => {
    assert.equal(pathToString(['f:spec', 'f:replicas']), '.spec.replicas');
    assert.equal(
      pathToString(['f:spec', 'f:template', 'f:spec', 'f:containers', web, 'f:image']),
      '.spec.template.spec.containers[name="web"].image',
    );
    assert.equal(
      pathToString(['f:ports', 'k:{"protocol":"TCP","containerPort":80}']),
      '.ports[containerPort=80,protocol="TCP"]',
    );
    assert.equal(pathToString(['f:metadata', 'f:finalizers', 'v:"x"']), '.metadata.finalizers[="x"]');
    assert.equal(pathToString(['f:list', 'i:3']), '.list[3]');
  });
});
