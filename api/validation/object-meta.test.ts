import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { causeString, type StatusCause } from '../status.js';
import { nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain } from './names.js';
import { validateLabelSelector, validateObjectMeta, validateObjectMetaUpdate } from './object-meta.js';

const lines = (causes: StatusCause[]): string[] => causes.map(causeString);
const ns = { namespaced: true, nameFn: nameIsDNSSubdomain };

describe('validateObjectMeta', () => {
  it('accepts a good object', () => {
    assert.deepEqual(
      validateObjectMeta(
        { name: 'web', namespace: 'default', labels: { app: 'web' }, annotations: { 'example.com/x': 'y' } },
        ns,
      ),
      [],
    );
  });

  it('requires a name unless generateName is set', () => {
    assert.deepEqual(lines(validateObjectMeta({ namespace: 'default' }, ns)), [
      'metadata.name: Required value: name or generateName is required',
    ]);
    assert.deepEqual(validateObjectMeta({ generateName: 'web-', namespace: 'default' }, ns), []);
  });

  it('checks names per kind', () => {
    assert.deepEqual(lines(validateObjectMeta({ name: 'Web', namespace: 'd' }, ns)), [
      `metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    ]);
    assert.deepEqual(
      lines(validateObjectMeta({ name: 'a.b' }, { namespaced: false, nameFn: nameIsDNSLabel })),
      ['metadata.name: Invalid value: "a.b": must not contain dots'],
    );
    assert.equal(
      validateObjectMeta({ name: '1svc', namespace: 'd' }, { namespaced: true, nameFn: nameIsDNS1035Label })
        .length,
      1,
    );
    assert.equal(
      validateObjectMeta({ generateName: 'Bad-', namespace: 'd' }, ns)[0]?.field,
      'metadata.generateName',
    );
  });

  it('checks namespace presence and scope', () => {
    assert.deepEqual(lines(validateObjectMeta({ name: 'a' }, ns)), ['metadata.namespace: Required value']);
    assert.deepEqual(
      lines(
        validateObjectMeta({ name: 'a', namespace: 'x' }, { namespaced: false, nameFn: nameIsDNSSubdomain }),
      ),
      ['metadata.namespace: Forbidden: not allowed on this type'],
    );
  });

  it('checks labels, annotations, owner references and finalizers', () => {
    const out = lines(
      validateObjectMeta(
        {
          name: 'a',
          namespace: 'd',
          labels: { 'bad key': 'x', ok: 'bad value' },
          annotations: { big: 'x'.repeat(256 * 1024) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: '' }],
          finalizers: ['example.com/f', 'orphan', 'foregroundDeletion'],
        },
        ns,
      ),
    );
    assert.deepEqual(out, [
      `metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
      `metadata.labels: Invalid value: "bad value": a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
      'metadata.annotations: Too long: may not be more than 262144 bytes',
      'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
      'metadata.finalizers: Invalid value: []string{"example.com/f", "orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion cannot be both set',
    ]);
  });
});

describe('validateObjectMetaUpdate', () => {
  const old = {
    name: 'a',
    namespace: 'd',
    uid: 'u1',
    creationTimestamp: '2024-05-01T10:00:00Z',
    generation: 3,
  };

  it('accepts label changes', () => {
    assert.deepEqual(validateObjectMetaUpdate({ ...old, labels: { x: 'y' } }, old), []);
  });

  it('reports immutable identity fields', () => {
    assert.deepEqual(
      lines(
        validateObjectMetaUpdate(
          {
            ...old,
            name: 'b',
            namespace: 'e',
            uid: 'u2',
            creationTimestamp: '2025-01-02T03:04:05Z',
            generation: 2,
          },
          old,
        ),
      ),
      [
        'metadata.generation: Invalid value: 2: must not be decremented',
        'metadata.name: Invalid value: "b": field is immutable',
        'metadata.namespace: Invalid value: "e": field is immutable',
        'metadata.uid: Invalid value: "u2": field is immutable',
        'metadata.creationTimestamp: Invalid value: 2025-01-02 03:04:05 +0000 UTC: field is immutable',
      ],
    );
  });

  it('forbids new finalizers during deletion', () => {
    const deleting = { ...old, deletionTimestamp: '2024-06-01T00:00:00Z', finalizers: ['example.com/a'] };
    assert.deepEqual(
      lines(
        validateObjectMetaUpdate({ ...deleting, finalizers: ['example.com/a', 'example.com/b'] }, deleting),
      ),
      [
        'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/b"}',
      ],
    );
  });
});

describe('validateLabelSelector', () => {
  it('reports operator and value errors', () => {
    assert.deepEqual(
      lines(
        validateLabelSelector(
          {
            matchLabels: { app: 'web' },
            matchExpressions: [
              { key: 'a', operator: 'In', values: [] },
              { key: 'b', operator: 'Exists', values: ['x'] },
              { key: 'c', operator: 'Has' },
            ],
          },
          'spec.selector',
        ),
      ),
      [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Has": not a valid selector operator',
      ],
    );
  });
});
