import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type ConnectionOptions, type TLSSocket, type TlsOptions } from 'node:tls';
import { webcrypto } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { isBerthError, errorCodes } from '../errors.js';
import {
  createCertificateAuthority,
  issueServingCertificate,
  signCsr,
  type CertificateAuthority,
  type CertificateAndKey,
} from './certificate-authority.js';
import { createCsr } from './csr.js';
import { certificateInfo } from './certificate-info.js';
import { x509 } from './x509-setup.js';

const dayMs = 24 * 60 * 60 * 1000;

/** Starts a TLS server, runs `fn` with its port, and always closes it. */
async function withTlsServer<T>(
  options: TlsOptions,
  onConnection: (socket: TLSSocket) => void,
  fn: (port: number) => Promise<T>,
): Promise<T> {
  const server = createServer(options, onConnection);
  server.on('tlsClientError', () => {
    /* a refused client is what some tests expect */
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await fn((server.address() as AddressInfo).port);
  } finally {
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  }
}

type Outcome = { ok: true; data: string } | { ok: false; code: string; message: string };

/** Connects, reads what the server sends until it closes, and reports success or the error code. */
function probe(port: number, opts: ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ...opts });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => {
      resolve({ ok: true, data });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve({ ok: false, code: err.code ?? 'UNKNOWN', message: err.message });
    });
  });
}

const helloServer = (socket: TLSSocket): void => {
  socket.end('hello');
};

describe('createCertificateAuthority', () => {
  it('creates a CA certificate valid from just before now for validDays', async () => {
    const now = Date.UTC(2026, 0, 1);
    const ca = await createCertificateAuthority({ commonName: 'berth-ca@1', validDays: 3650, now });
    const info = certificateInfo(ca.certPem);
    assert.equal(info.commonName, 'berth-ca@1');
    assert.equal(info.issuerCommonName, 'berth-ca@1');
    assert.equal(info.isCa, true);
    assert.equal(info.notBefore.getTime(), now - 5 * 60 * 1000);
    assert.equal(info.notAfter.getTime(), now + 3650 * dayMs);
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
    const cert = new x509.X509Certificate(ca.certPem);
    const usages = cert.getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
    assert.ok(usages & x509.KeyUsageFlags.keyCertSign && usages & x509.KeyUsageFlags.cRLSign);
    assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension));
  });

  it('gives each certificate a different positive serial number', async () => {
    const now = Date.now();
    const a = await createCertificateAuthority({ commonName: 'a', validDays: 1, now });
    const b = await createCertificateAuthority({ commonName: 'a', validDays: 1, now });
    const sa = certificateInfo(a.certPem).serialNumber;
    assert.notEqual(sa, certificateInfo(b.certPem).serialNumber);
    assert.match(sa, /^[4-7][0-9a-f]{31}$/);
  });

  it('refuses a non-positive validity', async () => {
    await assert.rejects(
      createCertificateAuthority({ commonName: 'x', validDays: 0, now: Date.now() }),
      (err) => isBerthError(err, errorCodes.CERT_INVALID),
    );
  });
});

describe('issueServingCertificate over TLS', () => {
  let ca: CertificateAuthority;
  let serving: CertificateAndKey;

  before(async () => {
    const now = Date.now();
    ca = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 30, now });
    serving = await issueServingCertificate(ca, {
      commonName: 'berth-apiserver',
      dnsNames: ['localhost', 'berth.test'],
      ipAddresses: ['127.0.0.1', '::1'],
      validDays: 10,
      now,
    });
  });

  it('is trusted by a client given only the CA, by IP and by DNS name', async () => {
    await withTlsServer({ key: serving.keyPem, cert: serving.certPem }, helloServer, async (port) => {
      assert.deepEqual(await probe(port, { ca: ca.certPem }), { ok: true, data: 'hello' });
      assert.deepEqual(await probe(port, { ca: ca.certPem, servername: 'berth.test' }), {
        ok: true,
        data: 'hello',
      });
    });
  });

  it('is rejected for a host name not in its SANs', async () => {
    await withTlsServer({ key: serving.keyPem, cert: serving.certPem }, helloServer, async (port) => {
      const out = await probe(port, { ca: ca.certPem, servername: 'other.test' });
      assert.equal(out.ok, false);
      assert.equal(out.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    });
  });

  it('is rejected without the CA, and with another CA of the same name', async () => {
    const other = await createCertificateAuthority({
      commonName: 'berth-ca',
      validDays: 30,
      now: Date.now(),
    });
    await withTlsServer({ key: serving.keyPem, cert: serving.certPem }, helloServer, async (port) => {
      const noCa = await probe(port, {});
      assert.equal(!noCa.ok && noCa.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      const wrongCa = await probe(port, { ca: other.certPem });
      assert.equal(wrongCa.ok, false);
    });
  });

  it('carries serverAuth, the SANs, and an AKI equal to the CA SKI', () => {
    const info = certificateInfo(serving.certPem);
    assert.deepEqual(info.extendedKeyUsages, ['serverAuth']);
    assert.deepEqual(info.dnsNames, ['localhost', 'berth.test']);
    assert.deepEqual(info.ipAddresses, ['127.0.0.1', '::1']);
    assert.equal(info.isCa, false);
    const aki = new x509.X509Certificate(serving.certPem).getExtension(x509.AuthorityKeyIdentifierExtension);
    const ski = new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension);
    assert.ok(aki?.keyId !== undefined && aki.keyId === ski?.keyId);
  });

  it('is refused by clients once expired, or before it is valid', async () => {
    const past = Date.now() - 100 * dayMs;
    const oldCa = await createCertificateAuthority({ commonName: 'old', validDays: 1000, now: past });
    const expired = await issueServingCertificate(oldCa, {
      commonName: 'x',
      dnsNames: [],
      ipAddresses: ['127.0.0.1'],
      validDays: 30,
      now: past,
    });
    await withTlsServer({ key: expired.keyPem, cert: expired.certPem }, helloServer, async (port) => {
      const out = await probe(port, { ca: oldCa.certPem });
      assert.equal(!out.ok && out.code, 'CERT_HAS_EXPIRED');
    });
    const future = Date.now() + 2 * dayMs;
    const early = await issueServingCertificate(oldCa, {
      commonName: 'x',
      dnsNames: [],
      ipAddresses: ['127.0.0.1'],
      validDays: 30,
      now: future,
    });
    await withTlsServer({ key: early.keyPem, cert: early.certPem }, helloServer, async (port) => {
      const out = await probe(port, { ca: oldCa.certPem });
      assert.equal(!out.ok && out.code, 'CERT_NOT_YET_VALID');
    });
  });

  it('never outlives its CA', async () => {
    const now = Date.now();
    const leaf = await issueServingCertificate(ca, {
      commonName: 'x',
      dnsNames: ['a'],
      ipAddresses: [],
      validDays: 365,
      now,
    });
    assert.equal(
      certificateInfo(leaf.certPem).notAfter.getTime(),
      certificateInfo(ca.certPem).notAfter.getTime(),
    );
  });

  it('refuses an address that is not an IP, and a CA whose key does not match', async () => {
    const base = { commonName: 'x', dnsNames: [], validDays: 1, now: Date.now() };
    await assert.rejects(issueServingCertificate(ca, { ...base, ipAddresses: ['localhost'] }), (err) =>
      isBerthError(err, errorCodes.CERT_INVALID),
    );
    const other = await createCertificateAuthority({ commonName: 'o', validDays: 1, now: Date.now() });
    await assert.rejects(
      issueServingCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { ...base, ipAddresses: [] }),
      (err) => isBerthError(err, errorCodes.CERT_INVALID) && /does not match/.test(err.message),
    );
    await assert.rejects(
      issueServingCertificate(
        { certPem: serving.certPem, keyPem: serving.keyPem },
        { ...base, ipAddresses: [] },
      ),
      (err) => isBerthError(err, errorCodes.CERT_INVALID) && /not a CA/.test(err.message),
    );
  });
});

describe('signCsr', () => {
  let ca: CertificateAuthority;
  let serving: CertificateAndKey;
  const now = Date.now();

  before(async () => {
    ca = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 30, now });
    serving = await issueServingCertificate(ca, {
      commonName: 's',
      dnsNames: [],
      ipAddresses: ['127.0.0.1'],
      validDays: 10,
      now,
    });
  });

  /** A server that asks for a client certificate and reports OpenSSL's verdict and the subject. */
  const mtlsOptions = (): TlsOptions => ({
    key: serving.keyPem,
    cert: serving.certPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: false,
  });
  const reportPeer = (socket: TLSSocket): void => {
    const peer = socket.getPeerCertificate();
    socket.end(
      JSON.stringify({
        authorized: socket.authorized,
        error: socket.authorized ? null : String(socket.authorizationError),
        subject: peer.subject,
      }),
    );
  };

  it('issues a node client certificate that passes requestCert + ca verification', async () => {
    const csr = await createCsr({ commonName: 'system:node:n1', organization: 'system:nodes' });
    const certPem = await signCsr(ca, csr.csrPem, { usages: ['clientAuth'], validDays: 10, now });
    const info = certificateInfo(certPem);
    assert.equal(info.commonName, 'system:node:n1');
    assert.deepEqual(info.organizations, ['system:nodes']);
    assert.deepEqual(info.extendedKeyUsages, ['clientAuth']);
    await withTlsServer(mtlsOptions(), reportPeer, async (port) => {
      const out = await probe(port, { ca: ca.certPem, cert: certPem, key: csr.keyPem });
      assert.ok(out.ok);
      assert.deepEqual(JSON.parse(out.data), {
        authorized: true,
        error: null,
        subject: { O: 'system:nodes', CN: 'system:node:n1' },
      });
    });
    // And a server that rejects unauthorized clients lets this one in.
    await withTlsServer({ ...mtlsOptions(), rejectUnauthorized: true }, helloServer, async (port) => {
      assert.deepEqual(await probe(port, { ca: ca.certPem, cert: certPem, key: csr.keyPem }), {
        ok: true,
        data: 'hello',
      });
    });
  });

  it('lets the signer override the subject the request asked for', async () => {
    const csr = await createCsr({ commonName: 'admin', organization: ['system:masters', 'extra'] });
    const certPem = await signCsr(ca, csr.csrPem, {
      usages: ['clientAuth'],
      validDays: 1,
      now,
      subject: { commonName: 'system:node:n2', organization: 'system:nodes' },
    });
    const info = certificateInfo(certPem);
    assert.equal(info.commonName, 'system:node:n2');
    assert.deepEqual(info.organizations, ['system:nodes']);
  });

  it('does not copy extensions the request asks for', async () => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ]);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=sneaky',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'evil.test' }]),
      ],
    });
    const certPem = await signCsr(ca, csr.toString('pem'), { usages: ['clientAuth'], validDays: 1, now });
    const info = certificateInfo(certPem);
    assert.equal(info.isCa, false);
    assert.deepEqual(info.dnsNames, []);
  });

  it('is refused by an mTLS server when the certificate is not for client auth or not from its CA', async () => {
    const csr = await createCsr({ commonName: 'system:node:n3', organization: 'system:nodes' });
    const serverOnly = await signCsr(ca, csr.csrPem, { usages: ['serverAuth'], validDays: 1, now });
    const otherCa = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 30, now });
    const foreign = await signCsr(otherCa, csr.csrPem, { usages: ['clientAuth'], validDays: 1, now });
    await withTlsServer(mtlsOptions(), reportPeer, async (port) => {
      const a = await probe(port, { ca: ca.certPem, cert: serverOnly, key: csr.keyPem });
      assert.ok(a.ok);
      assert.equal((JSON.parse(a.data) as { authorized: boolean }).authorized, false);
      const b = await probe(port, { ca: ca.certPem, cert: foreign, key: csr.keyPem });
      assert.ok(b.ok);
      assert.equal((JSON.parse(b.data) as { authorized: boolean }).authorized, false);
    });
  });

  it('refuses a tampered request', async () => {
    const csr = await createCsr({ commonName: 'system:node:n4', organization: 'system:nodes' });
    const der = Buffer.from(x509.PemConverter.decodeFirst(csr.csrPem));
    const at = der.indexOf('system:node:n4');
    assert.ok(at > 0);
    der[at + 'system:node:n'.length] = '5'.charCodeAt(0);
    const tampered = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
    assert.equal(new x509.Pkcs10CertificateRequest(tampered).subject, 'O=system:nodes, CN=system:node:n5');
    await assert.rejects(
      signCsr(ca, tampered, { usages: ['clientAuth'], validDays: 1, now }),
      (err) => isBerthError(err, errorCodes.CERT_INVALID) && /signature does not verify/.test(err.message),
    );
  });

  it('refuses garbage, weak keys, and an empty usage list', async () => {
    const opts = { usages: ['clientAuth'] as const, validDays: 1, now };
    await assert.rejects(signCsr(ca, 'not a csr', opts), (err) => isBerthError(err, errorCodes.CERT_INVALID));
    const rsa = await webcrypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 1024,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    );
    const weak = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=weak',
      keys: rsa,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
    });
    await assert.rejects(
      signCsr(ca, weak.toString('pem'), opts),
      (err) => isBerthError(err, errorCodes.CERT_INVALID) && /1024 bits/.test(err.message),
    );
    const csr = await createCsr({ commonName: 'x' });
    await assert.rejects(signCsr(ca, csr.csrPem, { ...opts, usages: [] }), (err) =>
      isBerthError(err, errorCodes.CERT_INVALID),
    );
  });
  it('accepts an RSA 2048 request and adds keyEncipherment for it', async () => {
    const rsa = await webcrypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    );
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=legacy',
      keys: rsa,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
    });
    const certPem = await signCsr(ca, csr.toString('pem'), { usages: ['clientAuth'], validDays: 1, now });
    const usages = new x509.X509Certificate(certPem).getExtension(x509.KeyUsagesExtension)?.usages ?? 0;
    assert.equal(usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  });
});
