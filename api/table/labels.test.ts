import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatLabelSelector, formatLabels, selectorString } from './labels.js';

describe('label formatting', () => {
  it('formats label maps sorted by key', () => {
    assert.equal(formatLabels({ b: '2', a: '1' }), 'a=1,b=2');
    assert.equal(formatLabels({}), '<none>');
    assert.equal(formatLabels(undefined), '<none>');
  });

  it('formats selectors as Kubernetes does', () => {
    assert.equal(
      selectorString({
        matchLabels: { tier: 'fe', app: 'web' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod', 'dev'] },
          { key: 'zone', operator: 'NotIn', values: ['b', 'a'] },
          { key: 'canary', operator: 'DoesNotExist' },
          { key: 'beta', operator: 'Exists' },
        ],
      }),
      'app=web,beta,!canary,env in (dev,prod),tier=fe,zone notin (a,b)',
    );
    assert.equal(selectorString({}), '');
    assert.equal(selectorString(undefined), '');
    assert.equal(formatLabelSelector({}), '<none>');
    assert.equal(formatLabelSelector({ matchLabels: { app: 'web' } }), 'app=web');
    assert.equal(selectorString({ matchExpressions: [{ key: 'a', operator: 'Bogus' }] }), '<error>');
  });
});
