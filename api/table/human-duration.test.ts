import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ageSince, humanDuration } from './human-duration.js';

const s = 1000;
const m = 60 * s;
const h = 60 * m;
const d = 24 * h;

describe('humanDuration (k8s duration.HumanDuration)', () => {
  const cases: [number, string][] = [
    [-2500, '<invalid>'],
    [-1500, '0s'],
    [0, '0s'],
    [999, '0s'],
    [5 * s, '5s'],
    [119 * s + 999, '119s'],
    [2 * m, '2m'],
    [2 * m + 3 * s, '2m3s'],
    [9 * m + 59 * s, '9m59s'],
    [10 * m + 30 * s, '10m'],
    [179 * m, '179m'],
    [3 * h, '3h'],
    [3 * h + 5 * m, '3h5m'],
    [7 * h + 59 * m, '7h59m'],
    [8 * h + 30 * m, '8h'],
    [47 * h, '47h'],
    [48 * h, '2d'],
    [2 * d + 5 * h, '2d5h'],
    [7 * d + 23 * h, '7d23h'],
    [8 * d + 5 * h, '8d'],
    [729 * d, '729d'],
    [730 * d, '2y'],
    [730 * d + 12 * d, '2y12d'],
    [8 * 365 * d + 100 * d, '8y'],
  ];
  for (const [ms, want] of cases) {
    it(`${ms}ms → ${want}`, () => {
      assert.equal(humanDuration(ms), want);
    });
  }
});

describe('ageSince', () => {
  it('measures from an RFC 3339 timestamp to now', () => {
    const now = Date.parse('2025-01-01T00:10:00Z');
    assert.equal(ageSince('2025-01-01T00:00:00Z', now), '10m');
    assert.equal(ageSince('2025-01-01T00:09:55.5Z', now), '4s');
  });
  it('is <unknown> for missing or bad timestamps', () => {
    assert.equal(ageSince(undefined, 0), '<unknown>');
    assert.equal(ageSince('', 0), '<unknown>');
    assert.equal(ageSince('yesterday', 0), '<unknown>');
  });
});
