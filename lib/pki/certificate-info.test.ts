import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { errorCodes, isBerthError } from '../errors.js';
import {
  createCertificateAuthority,
  issueServingCertificate,
  type CertificateAuthority,
  type CertificateAndKey,
} from './certificate-authority.js';
import { certificateInfo, verifyChain } from './certificate-info.js';

const dayMs = 24 * 60 * 60 * 1000;
const now = Date.UTC(2026, 5, 1);

describe('certificateInfo', () => {
  let ca: CertificateAuthority;
  let leaf: CertificateAndKey;

  before(async () => {
    ca = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 100, now });
    leaf = await issueServingCertificate(ca, {
      commonName: 'berth-apiserver',
      dnsNames: ['localhost', 'node-1'],
      ipAddresses: ['10.0.0.5', 'fd00::5'],
      validDays: 10,
      now,
    });
  });

  it('reports subject, issuer, SANs, validity and usages', () => {
    const info = certificateInfo(leaf.certPem);
    assert.equal(info.commonName, 'berth-apiserver');
    assert.deepEqual(info.organizations, []);
    assert.equal(info.issuerCommonName, 'berth-ca');
    assert.deepEqual(info.dnsNames, ['localhost', 'node-1']);
    assert.deepEqual(info.ipAddresses, ['10.0.0.5', 'fd00::5']);
    assert.equal(info.notBefore.getTime(), now - 5 * 60 * 1000);
    assert.equal(info.notAfter.getTime(), now + 10 * dayMs);
    assert.equal(info.isCa, false);
    assert.deepEqual(info.extendedKeyUsages, ['serverAuth']);
  });

  it('reports the SHA-256 fingerprint and serial Node computes', () => {
    const info = certificateInfo(leaf.certPem);
    const node = new X509Certificate(leaf.certPem);
    assert.equal(info.fingerprintSha256, node.fingerprint256.replaceAll(':', '').toLowerCase());
    assert.equal(info.serialNumber, node.serialNumber.toLowerCase());
  });

  it('throws CERT_INVALID for something that is not a certificate', () => {
    assert.throws(
      () => certificateInfo('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      (err) => isBerthError(err, errorCodes.CERT_INVALID),
    );
    assert.throws(
      () => certificateInfo(''),
      (err) => isBerthError(err, errorCodes.CERT_INVALID),
    );
  });
});

describe('verifyChain', () => {
  let ca: CertificateAuthority;
  let leaf: CertificateAndKey;

  before(async () => {
    ca = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 100, now });
    leaf = await issueServingCertificate(ca, {
      commonName: 'x',
      dnsNames: ['localhost'],
      ipAddresses: [],
      validDays: 10,
      now,
    });
  });

  it('accepts a certificate from the CA within its validity', async () => {
    assert.deepEqual(await verifyChain(leaf.certPem, ca.certPem, { now }), { ok: true });
    assert.deepEqual(await verifyChain(ca.certPem, ca.certPem, { now }), { ok: true });
  });

  it('rejects a certificate before or after its validity window', async () => {
    assert.deepEqual(await verifyChain(leaf.certPem, ca.certPem, { now: now - 10 * 60 * 1000 }), {
      ok: false,
      reason: 'not-yet-valid',
    });
    assert.deepEqual(await verifyChain(leaf.certPem, ca.certPem, { now: now + 11 * dayMs }), {
      ok: false,
      reason: 'expired',
    });
  });

  it('rejects when the CA is outside its own validity window', async () => {
    // A leaf dated before its CA existed: valid itself at that time, but its CA is not.
    const early = await issueServingCertificate(ca, {
      commonName: 'x',
      dnsNames: ['a'],
      ipAddresses: [],
      validDays: 1,
      now: now - dayMs,
    });
    assert.deepEqual(await verifyChain(early.certPem, ca.certPem, { now: now - dayMs }), {
      ok: false,
      reason: 'ca-not-yet-valid',
    });
    assert.deepEqual(await verifyChain(ca.certPem, ca.certPem, { now: now + 101 * dayMs }), {
      ok: false,
      reason: 'expired',
    });
  });

  it('rejects a certificate from another CA, even one with the same name', async () => {
    const sameName = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 100, now });
    assert.deepEqual(await verifyChain(leaf.certPem, sameName.certPem, { now }), {
      ok: false,
      reason: 'bad-signature',
    });
    const otherName = await createCertificateAuthority({ commonName: 'other-ca', validDays: 100, now });
    assert.deepEqual(await verifyChain(leaf.certPem, otherName.certPem, { now }), {
      ok: false,
      reason: 'issuer-mismatch',
    });
  });

  it('rejects an issuer that is not a CA', async () => {
    // A leaf "signed" by itself: issuer equals subject, but basicConstraints says it is no CA.
    const self = await issueServingCertificate(ca, {
      commonName: 'berth-ca',
      dnsNames: ['a'],
      ipAddresses: [],
      validDays: 1,
      now,
    });
    assert.deepEqual(await verifyChain(leaf.certPem, self.certPem, { now }), {
      ok: false,
      reason: 'not-a-ca',
    });
  });
});
