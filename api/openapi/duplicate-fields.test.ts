import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocument } from 'yaml';
import { duplicateJsonFields, duplicateYamlFields } from './duplicate-fields.js';

describe('duplicateJsonFields', () => {
  it('finds nothing in a body without repeats', () => {
    assert.deepEqual(
      duplicateJsonFields('{"a":{"b":1,"c":[{"b":2},{"b":3}]},"b":"{\\"b\\":1}","d":[[1,2],{}]}'),
      [],
    );
    assert.deepEqual(duplicateJsonFields('[]'), []);
    assert.deepEqual(duplicateJsonFields('"x"'), []);
  });

  it('reports each repeat with the path Kubernetes uses, in document order', () => {
    const text =
      '{"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"a","image":"x","name":"b"}]}},' +
      '"replicas":2},"kind":"D","kind":"E"}';
    assert.deepEqual(duplicateJsonFields(text), [
      'spec.template.spec.containers[0].name',
      'spec.replicas',
      'kind',
    ]);
  });

  it('copes with whitespace, escapes and brackets inside strings', () => {
    const text = `{
      "a\\"b": "x,}]{[",
      "list": [ 1, "two", { "k": 1 , "k" : 2 } ],
      "a\\u0022b": 1
    }`;
    assert.deepEqual(duplicateJsonFields(text), ['list[2].k', 'a"b']);
  });

  it('does not confuse keys of sibling objects', () => {
    assert.deepEqual(duplicateJsonFields('[{"a":1},{"a":2}]'), []);
    assert.deepEqual(duplicateJsonFields('{"x":{"a":1},"y":{"a":2}}'), []);
  });
});

describe('duplicateYamlFields', () => {
  it('reports repeated keys in block and flow style', () => {
    const doc = parseDocument(
      'metadata:\n  name: a\n  name: b\nspec:\n  containers:\n  - {name: x, name: y}\n',
      { uniqueKeys: false },
    );
    assert.deepEqual(duplicateYamlFields(doc.contents), ['metadata.name', 'spec.containers[0].name']);
    assert.deepEqual(doc.toJS(), { metadata: { name: 'b' }, spec: { containers: [{ name: 'y' }] } });
  });

  it('finds nothing in a clean document', () => {
    const doc = parseDocument('a: 1\nb: [ {a: 1}, {a: 2} ]\n', { uniqueKeys: false });
    assert.deepEqual(duplicateYamlFields(doc.contents), []);
  });
});
