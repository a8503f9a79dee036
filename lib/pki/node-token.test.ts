import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { errorCodes, isBerthError } from '../errors.js';
import { createCertificateAuthority, type CertificateAuthority } from './certificate-authority.js';
import { caCertHash, formatNodeToken, parseNodeToken } from './node-token.js';

describe('node token', () => {
  let ca: CertificateAuthority;
  before(async () => {
    ca = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 1, now: Date.now() });
  });

  it('hashes the CA certificate DER with SHA-256, whatever the PEM line endings', () => {
    const expected = createHash('sha256').update(new X509Certificate(ca.certPem).raw).digest('hex');
    assert.equal(caCertHash(ca.certPem), expected);
    assert.equal(caCertHash(ca.certPem.replaceAll('\n', '\r\n')), expected);
  });

  it('formats K10<hash>::server:<secret> and parses it back', () => {
    const token = formatNodeToken(ca.certPem, 'abc123');
    assert.equal(token, `K10${caCertHash(ca.certPem)}::server:abc123`);
    assert.deepEqual(parseNodeToken(`  ${token}\n`), {
      caHash: caCertHash(ca.certPem),
      user: 'server',
      secret: 'abc123',
    });
  });

  it('accepts a bare secret and rejects malformed tokens', () => {
    assert.deepEqual(parseNodeToken('s3cret'), { secret: 's3cret' });
    assert.equal(parseNodeToken(''), undefined);
    assert.equal(parseNodeToken('two words'), undefined);
    assert.equal(parseNodeToken('K10abcd::server:x'), undefined);
    assert.equal(parseNodeToken(`K10${'a'.repeat(64)}::server:`), undefined);
  });

  it('refuses a CA that is not PEM', () => {
    assert.throws(
      () => caCertHash('nope'),
      (err) => isBerthError(err, errorCodes.CERT_INVALID),
    );
  });
});
