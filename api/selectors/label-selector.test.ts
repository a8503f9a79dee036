import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  everything,
  labelSelectorFromObject,
  newRequirement,
  nothing,
  parseLabelSelector,
  selectorFromSet,
  type LabelSelector,
} from './label-selector.js';

function sel(s: string): LabelSelector {
  const r = parseLabelSelector(s);
  if (!r.ok) throw new Error(r.error);
  return r.selector;
}

function parseError(s: string): string {
  const r = parseLabelSelector(s);
  if (r.ok) assert.fail(`expected ${JSON.stringify(s)} to fail`);
  return r.error;
}

const qualifiedNameMsg =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

describe('parseLabelSelector', () => {
  it('treats empty and blank as everything', () => {
    assert.ok(sel('').isEverything());
    assert.ok(sel('  ').isEverything());
    assert.ok(sel('').matches({}));
  });

  it('parses equality, inequality, set and existence forms', () => {
    const s = sel('app=web, tier==front,env!=prod,zone in (a, b),team notin (x),has,!gone');
    assert.equal(s.toString(), 'app=web,env!=prod,!gone,has,team notin (x),tier==front,zone in (a,b)');
    const base = { app: 'web', tier: 'front', zone: 'a', has: '' };
    assert.ok(s.matches(base));
    assert.ok(s.matches({ ...base, env: 'dev', team: 'y' }));
    assert.equal(s.matches({ ...base, env: 'prod' }), false);
    assert.equal(s.matches({ ...base, zone: 'c' }), false);
    assert.equal(s.matches({ ...base, team: 'x' }), false);
    assert.equal(s.matches({ ...base, gone: '1' }), false);
    const { has: _has, ...withoutHas } = base;
    assert.equal(s.matches(withoutHas), false);
  });

  it('handles the odd corners Kubernetes allows', () => {
    assert.ok(sel('a=').matches({ a: '' }));
    assert.ok(sel('a in ()').matches({ a: '' }));
    assert.ok(sel('a in (in,notin)').matches({ a: 'notin' }));
    assert.ok(sel('a in (x,,y)').matches({ a: '' }));
    assert.ok(sel('n>5').matches({ n: '6' }));
    assert.equal(sel('n>5').matches({ n: '5' }), false);
    assert.equal(sel('n<5').matches({ n: 'x' }), false);
    assert.ok(sel('example.com/app=x').matches({ 'example.com/app': 'x' }));
  });

  it('reports exact-match requirements', () => {
    const s = sel('app=web,tier in (a),x in (a,b)');
    assert.equal(s.requiresExactMatch('app'), 'web');
    assert.equal(s.requiresExactMatch('tier'), 'a');
    assert.equal(s.requiresExactMatch('x'), undefined);
    assert.equal(s.requiresExactMatch('nope'), undefined);
  });

  it('returns Kubernetes parse errors as values', () => {
    assert.equal(
      parseError('foo bar'),
      "unable to parse requirement: found 'bar', expected: in, notin, =, ==, !=, gt, lt",
    );
    assert.equal(parseError('a=b=c'), "found '=', expected: ',' or 'end of string'");
    assert.equal(parseError('a,'), "found '', expected: identifier after ','");
    assert.equal(parseError(',a'), "found ',', expected: !, identifier, or 'end of string'");
    assert.equal(parseError('a in x'), "unable to parse requirement: found 'x' expected: '('");
    assert.equal(parseError('a in (x'), "unable to parse requirement: found '', expected: ',' or ')'");
    assert.equal(parseError('a in (x y)'), "unable to parse requirement: found 'y', expected: ',' or ')'");
    assert.equal(parseError('a=(b)'), "unable to parse requirement: found '(', expected: identifier");
    assert.equal(
      parseError('-a=b'),
      `unable to parse requirement: <nil>: Invalid value: "-a": ${qualifiedNameMsg}`,
    );
    assert.equal(parseError('a=b c'), "found 'c', expected: ',' or 'end of string'");
    assert.equal(
      parseError('a=-b'),
      "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
    assert.equal(
      parseError('n>x'),
      "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer",
    );
  });
});

describe('labelSelectorFromObject', () => {
  it('maps nil to nothing and empty to everything', () => {
    const nil = labelSelectorFromObject(undefined);
    assert.ok(nil.ok && nil.selector.isNothing() && !nil.selector.matches({}));
    const empty = labelSelectorFromObject({});
    assert.ok(empty.ok && empty.selector.isEverything() && empty.selector.matches({ a: 'b' }));
    assert.ok(nothing.isNothing());
    assert.ok(everything.isEverything());
  });

  it('combines matchLabels and matchExpressions', () => {
    const r = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a', 'b'] },
        { key: 'env', operator: 'NotIn', values: ['prod'] },
        { key: 'team', operator: 'Exists' },
        { key: 'old', operator: 'DoesNotExist' },
      ],
    });
    assert.ok(r.ok);
    const s = r.selector;
    assert.ok(s.matches({ app: 'web', tier: 'a', team: 't' }));
    assert.equal(s.matches({ app: 'web', tier: 'c', team: 't' }), false);
    assert.equal(s.matches({ app: 'web', tier: 'a', team: 't', old: '1' }), false);
    assert.equal(s.matches({ app: 'web', tier: 'a', team: 't', env: 'prod' }), false);
    assert.equal(s.toString(), 'app=web,env notin (prod),!old,team,tier in (a,b)');
  });

  it('validates operators and values', () => {
    assert.deepEqual(labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Foo' }] }), {
      ok: false,
      error: '"Foo" is not a valid label selector operator',
    });
    assert.deepEqual(
      labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
      {
        ok: false,
        error: "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
      },
    );
    const bad = labelSelectorFromObject({ matchLabels: { 'a b': 'x' } });
    assert.equal(bad.ok, false);
  });
});

describe('selectorFromSet and newRequirement', () => {
  it('selects exactly the set', () => {
    const s = selectorFromSet({ a: '1', b: '2' });
    assert.ok(s.matches({ a: '1', b: '2', c: '3' }));
    assert.equal(s.matches({ a: '1' }), false);
    assert.ok(selectorFromSet({}).isEverything());
  });

  it('aggregates several errors in brackets', () => {
    const r = newRequirement('-k', '=', []);
    if (r.ok) assert.fail('expected an error');
    assert.match(
      r.error,
      /^\[key: Invalid value: "-k": .*, values: Invalid value: \[\]string\{\}: exact-match compatibility requires one single value\]$/,
    );
  });
});
