import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { applyDefaults } from '../defaults/defaults.js';
import { causeString, invalid } from '../status.js';
import { validateCreate, validateUpdate } from './validate.js';

describe('validateCreate / validateUpdate dispatch', () => {
  it('validates metadata for unknown kinds and nothing else', () => {
    assert.deepEqual(
      validateCreate({
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w', namespace: 'd' },
        spec: { anything: -1 },
      }),
      [],
    );
    assert.deepEqual(
      validateCreate({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: {} }).map(causeString),
      ['metadata.name: Required value: name or generateName is required'],
    );
  });

  it('accepts generateName in place of a name', () => {
    const pod = applyDefaults({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { generateName: 'web-', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'nginx' }] },
    });
    assert.deepEqual(validateCreate(pod), []);
  });

  it('tolerates garbage shapes without throwing', () => {
    for (const bad of [
      null,
      42,
      'x',
      [],
      { apiVersion: 'v1', kind: 'Pod', metadata: 'x', spec: { containers: 'nope', volumes: {} } },
    ]) {
      assert.ok(Array.isArray(validateCreate(bad)));
      assert.ok(Array.isArray(validateUpdate(bad, bad)));
    }
    const out = validateCreate({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace: 'n' },
      spec: { replicas: 'three', selector: [] },
    });
    assert.ok(out.some((c) => c.field === 'spec.selector'));
  });

  it('produces the 422 Status kubectl renders, several causes in brackets', () => {
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'invalid', namespace: 'default', labels: { '-x': 'y' } },
      data: { 'a b': '1' },
    };
    const status = invalid({ group: '', kind: 'ConfigMap' }, 'invalid', validateCreate(cm));
    assert.equal(status.code, 422);
    assert.equal(status.details?.causes?.length, 2);
    assert.match(
      status.message,
      /^ConfigMap "invalid" is invalid: \[metadata\.labels: Invalid value: "-x": .*, data\[a b\]: Invalid value: "a b": .*\]$/,
    );
  });

  it('runs metadata update rules for every kind', () => {
    const old = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'd', uid: 'u1' } };
    assert.deepEqual(
      validateUpdate({ ...old, metadata: { ...old.metadata, uid: 'u2' } }, old).map(causeString),
      ['metadata.uid: Invalid value: "u2": field is immutable'],
    );
  });
});
