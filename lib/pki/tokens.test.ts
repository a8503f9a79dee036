import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateToken, tokenHash, tokensEqual } from './tokens.js';

describe('tokens', () => {
  it('generates 32 random bytes as 64 hex characters, different each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const t = generateToken();
      assert.match(t, /^[0-9a-f]{64}$/);
      seen.add(t);
    }
    assert.equal(seen.size, 100);
  });

  it('hashes with SHA-256', () => {
    assert.equal(tokenHash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.notEqual(tokenHash('abc'), tokenHash('abd'));
  });

  it('compares tokens', () => {
    const t = generateToken();
    assert.equal(tokensEqual(t, t.slice(0)), true);
    assert.equal(tokensEqual(t, t.slice(0, -1)), false);
    assert.equal(tokensEqual(t, `${t}0`), false);
    assert.equal(tokensEqual(t, generateToken()), false);
    assert.equal(tokensEqual('', ''), true);
    assert.equal(tokensEqual('', t), false);
  });
});
