import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatObject, listOf, toYaml, withoutManagedFields } from './object-printer.js';

describe('object printer', () => {
  it('writes YAML as kubectl does: sorted keys, flush sequences, go-yaml quoting', () => {
    const yaml = toYaml({
      metadata: { name: 'web', creationTimestamp: '2026-11-27T20:45:40Z', annotations: { a: '{"x":1}\n' } },
      apiVersion: 'v1',
      spec: { command: ['sleep', '3600'], flag: 'true', empty: '', star: '*x', pct: '25%', list: [] },
    });
    assert.equal(
      yaml,
      'apiVersion: v1\n' +
        'metadata:\n' +
        '  annotations:\n' +
        '    a: |\n' +
        '      {"x":1}\n' +
        '  creationTimestamp: "2026-11-27T20:45:40Z"\n' +
        '  name: web\n' +
        'spec:\n' +
        '  command:\n' +
        '  - sleep\n' +
        '  - "3600"\n' +
        '  empty: ""\n' +
        '  flag: "true"\n' +
        '  list: []\n' +
        '  pct: 25%\n' +
        "  star: '*x'\n",
    );
  });

  it('wraps several objects in a v1 List and writes JSON with four-space indents', () => {
    assert.equal(
      formatObject(listOf([{ kind: 'Pod' }]), 'json'),
      '{\n    "apiVersion": "v1",\n    "items": [\n        {\n            "kind": "Pod"\n        }\n    ],\n' +
        '    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n',
    );
  });

  it('hides managedFields of an object and of list items', () => {
    const managed = { metadata: { name: 'a', managedFields: [{ manager: 'kubectl' }] } };
    assert.deepEqual(withoutManagedFields(managed), { metadata: { name: 'a' } });
    assert.deepEqual(withoutManagedFields(listOf([managed]))['items'], [{ metadata: { name: 'a' } }]);
    assert.equal(managed.metadata.managedFields.length, 1, 'the input is not modified');
  });
});
