import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chainIds, DigestHasher, parseDigest, sha256Digest } from './digest.js';

const hex64 = 'a'.repeat(64);

describe('parseDigest', () => {
  it('accepts sha256 and sha512 with lower-case hex of the right length', () => {
    assert.deepEqual(parseDigest(`sha256:${hex64}`), {
      algorithm: 'sha256',
      hex: hex64,
      digest: `sha256:${hex64}`,
    });
    assert.equal(parseDigest(`sha512:${'0'.repeat(128)}`)?.algorithm, 'sha512');
  });

  for (const bad of [
    'sha256:../../etc/passwd',
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'a'.repeat(63)}`,
    `sha256:${'a'.repeat(65)}`,
    `md5:${'a'.repeat(32)}`,
    `sha256+b64u:${'a'.repeat(43)}`,
    '',
    `sha256:${hex64}\n`,
    hex64,
    `sha256:${'g'.repeat(64)}`,
    `sha512:${hex64}`,
  ]) {
    it(`rejects ${JSON.stringify(bad.length > 40 ? bad.slice(0, 40) + '…' : bad)}`, () => {
      assert.equal(parseDigest(bad), undefined);
    });
  }
});

describe('hashing', () => {
  it('DigestHasher matches sha256Digest and counts bytes', () => {
    const h = new DigestHasher();
    h.update(Buffer.from('hello '));
    h.update(Buffer.from('world'));
    assert.equal(h.bytes, 11);
    assert.equal(h.finish(), sha256Digest('hello world'));
  });

  it('chain IDs follow the OCI definition', () => {
    const a = sha256Digest('a');
    const b = sha256Digest('b');
    const c = sha256Digest('c');
    const ids = chainIds([a, b, c]);
    assert.equal(ids[0], a);
    assert.equal(ids[1], sha256Digest(`${a} ${b}`));
    assert.equal(ids[2], sha256Digest(`${ids[1]} ${c}`));
  });
});
