import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cannotBeHandledAs, parseFieldValidation, validateFields } from './field-validation.js';

const cm = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c' },
  data: { a: 'b' },
  ...extra,
});

describe('parseFieldValidation', () => {
  it('defaults to Warn and accepts the three directives', () => {
    assert.deepEqual(parseFieldValidation(null), { ok: true, directive: 'Warn' });
    assert.deepEqual(parseFieldValidation(''), { ok: true, directive: 'Warn' });
    for (const d of ['Strict', 'Warn', 'Ignore'] as const) {
      assert.deepEqual(parseFieldValidation(d), { ok: true, directive: d });
    }
  });

  it('rejects anything else with the cause kube-apiserver reports', () => {
    assert.deepEqual(parseFieldValidation('strict'), {
      ok: false,
      cause: {
        reason: 'FieldValueNotSupported',
        field: 'fieldValidation',
        message: 'Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"',
      },
    });
  });
});

describe('validateFields', () => {
  it('passes a clean object through untouched', () => {
    const value = cm();
    const r = validateFields({ directive: 'Strict', apiVersion: 'v1', kind: 'ConfigMap', value });
    assert.ok(r.ok);
    assert.equal(r.value, value, 'no copy when nothing is dropped');
    assert.deepEqual(r.warnings, []);
  });

  it('Strict fails with the strict decoding message, duplicates first', () => {
    const r = validateFields({
      directive: 'Strict',
      apiVersion: 'v1',
      kind: 'ConfigMap',
      value: cm({ dataa: {}, metadata: { name: 'c', labelz: {} } }),
      duplicates: ['data.a'],
    });
    assert.deepEqual(r, {
      ok: false,
      message:
        'strict decoding error: duplicate field "data.a", unknown field "metadata.labelz", unknown field "dataa"',
    });
  });

  it('Warn drops unknown fields and warns about each problem', () => {
    const value = cm({ dataa: { x: 1 } });
    const r = validateFields({
      directive: 'Warn',
      apiVersion: 'v1',
      kind: 'ConfigMap',
      value,
      duplicates: ['data.a'],
    });
    assert.ok(r.ok);
    assert.deepEqual(r.value, cm());
    assert.deepEqual(r.warnings, ['duplicate field "data.a"', 'unknown field "dataa"']);
    assert.deepEqual(value['dataa'], { x: 1 }, 'the input is not modified');
  });

  it('Ignore drops unknown fields silently', () => {
    const r = validateFields({
      directive: 'Ignore',
      apiVersion: 'v1',
      kind: 'ConfigMap',
      value: cm({ dataa: {} }),
      duplicates: ['data.a'],
    });
    assert.deepEqual(r, { ok: true, value: cm(), warnings: [] });
  });

  it('does not blame a patch for unknown fields the stored object already had', () => {
    const current = cm({ legacy: 1 });
    const r = validateFields({
      directive: 'Strict',
      apiVersion: 'v1',
      kind: 'ConfigMap',
      value: cm({ legacy: 1, data: { a: 'c' } }),
      current,
    });
    assert.deepEqual(r, { ok: true, value: cm({ data: { a: 'c' } }), warnings: [] });
    const added = validateFields({
      directive: 'Strict',
      apiVersion: 'v1',
      kind: 'ConfigMap',
      value: cm({ legacy: 1, fresh: 2 }),
      current,
    });
    assert.deepEqual(added, { ok: false, message: 'strict decoding error: unknown field "fresh"' });
  });

  it('leaves kinds without a schema alone', () => {
    const value = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', anything: 1 };
    const r = validateFields({
      directive: 'Strict',
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      value,
    });
    assert.deepEqual(r, { ok: true, value, warnings: [] });
  });
});

describe('cannotBeHandledAs', () => {
  it('words a create/update decoding failure like kube-apiserver', () => {
    assert.equal(
      cannotBeHandledAs('apps/v1', 'Deployment', 'strict decoding error: unknown field "spec.foo"'),
      'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo"',
    );
    assert.equal(cannotBeHandledAs('v1', 'Pod', 'x'), 'Pod in version "v1" cannot be handled as a Pod: x');
  });
});
