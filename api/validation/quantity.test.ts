import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  compareQuantities,
  errQuantityFormat,
  errQuantitySuffix,
  parseQuantity,
  toMilliValue,
  toValue,
  type Quantity,
} from './quantity.js';

function q(s: unknown): Quantity {
  const r = parseQuantity(s);
  if (!r.ok) throw new Error(`${String(s)}: ${r.error}`);
  return r.quantity;
}

describe('parseQuantity', () => {
  it('reads CPU in milli-units, rounding up', () => {
    assert.equal(q('250m').milliValue, 250);
    assert.equal(q('1').milliValue, 1000);
    assert.equal(q('0.5').milliValue, 500);
    assert.equal(q('1.5').milliValue, 1500);
    assert.equal(q('100u').milliValue, 1);
    assert.equal(q(2).milliValue, 2000);
    assert.equal(q(0.25).milliValue, 250);
    assert.equal(q('250m').value, 1);
  });

  it('reads memory in bytes', () => {
    assert.equal(q('1Ki').value, 1024);
    assert.equal(q('128Mi').value, 134217728);
    assert.equal(q('1.5Gi').value, 1610612736);
    assert.equal(q('1G').value, 1e9);
    assert.equal(q('1e3').value, 1000);
    assert.equal(q('1E3').value, 1000);
    assert.equal(q('64M').value, 64_000_000);
    assert.equal(q('1Ei').value, 2 ** 60);
  });

  it('prints the canonical form Kubernetes echoes back', () => {
    const cases: [string, string][] = [
      ['2000m', '2'],
      ['1500m', '1500m'],
      ['0.5', '500m'],
      ['1000', '1k'],
      ['1200', '1200'],
      ['12000', '12k'],
      ['1024Mi', '1Gi'],
      ['1.5Gi', '1536Mi'],
      ['512', '512'],
      ['100Ki', '100Ki'],
      ['1e3', '1e3'],
      ['1.5e3', '1500'],
      ['0', '0'],
      ['0Mi', '0'],
      ['-1', '-1'],
      ['-500m', '-500m'],
      ['0.5Ki', '512'],
      ['1n', '1n'],
    ];
    for (const [input, want] of cases) assert.equal(q(input).canonical, want, input);
  });

  it('compares exactly', () => {
    assert.equal(compareQuantities(q('1'), q('1000m')), 0);
    assert.equal(compareQuantities(q('1Gi'), q('1G')), 1);
    assert.equal(compareQuantities(q('500m'), q('0.6')), -1);
  });

  it('returns Kubernetes errors as values', () => {
    for (const bad of ['', 'abc', ' 1', '1 ', '.', '--1', '1..2', true, null]) {
      const r = parseQuantity(bad);
      assert.deepEqual(r, { ok: false, error: errQuantityFormat }, String(bad));
    }
    assert.equal(
      errQuantityFormat,
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
    for (const bad of ['1e', '1Kii', '1mi', '1Ki5']) {
      assert.deepEqual(parseQuantity(bad), { ok: false, error: errQuantitySuffix }, bad);
    }
    assert.equal(toMilliValue('x'), undefined);
    assert.equal(toValue('2Ki'), 2048);
  });
});
