import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { goJson, goQuoteJson } from './go-json.js';

describe('goJson', () => {
  it('sorts keys at every level and writes compactly like json.Marshal', () => {
    assert.equal(goJson({ b: 1, a: { d: [true, null], c: 'x' } }), '{"a":{"c":"x","d":[true,null]},"b":1}');
  });

  it('indents like json.MarshalIndent, keeping empty containers inline', () => {
    assert.equal(
      goJson({ items: [{ a: 1 }], empty: {}, none: [] }, '    '),
      '{\n    "empty": {},\n    "items": [\n        {\n            "a": 1\n        }\n    ],\n    "none": []\n}',
    );
  });

  it('escapes <, >, & and the line separators as Go does', () => {
    assert.equal(goQuoteJson('<a href="x">&\u2028'), '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u2028"');
  });
});
