import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../lib/clock.js';
import {
  createCertificateAuthority,
  type CertificateAuthority,
} from '../../lib/pki/certificate-authority.js';
import { formatNodeToken } from '../../lib/pki/node-token.js';
import { NodeTokenStore } from './node-tokens.js';

describe('NodeTokenStore', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let other: CertificateAuthority;
  const clock = new FakeClock();
  const defaultSecret = 'a'.repeat(64);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-tokens-'));
    ca = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 10, now: clock.now() });
    other = await createCertificateAuthority({ commonName: 'berth-ca', validDays: 10, now: clock.now() });
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki', 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'node-token'), `${formatNodeToken(ca.certPem, defaultSecret)}\n`);
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the default token, in full or as a bare secret, and refuses a wrong one', async () => {
    const tokens = new NodeTokenStore({ dataDir: dir, clock });
    assert.deepEqual(await tokens.verify(formatNodeToken(ca.certPem, defaultSecret)), {
      ok: true,
      id: 'server',
    });
    assert.deepEqual(await tokens.verify(defaultSecret), { ok: true, id: 'server' });
    assert.deepEqual(await tokens.verify(formatNodeToken(ca.certPem, 'b'.repeat(64))), {
      ok: false,
      reason: 'unknown or revoked token',
    });
    assert.deepEqual(await tokens.verify(formatNodeToken(other.certPem, defaultSecret)), {
      ok: false,
      reason: "the token names another cluster's CA",
    });
    assert.deepEqual(await tokens.verify('K10nonsense'), { ok: false, reason: 'not a join token' });
  });

  it('creates tokens that verify, stores only their hash, and lists them', async () => {
    const tokens = new NodeTokenStore({ dataDir: dir, clock });
    const { token, info } = await tokens.create({ description: 'rack 7' });
    assert.match(token, /^K10[0-9a-f]{64}::[0-9a-f]{6}:[0-9a-f]{64}$/);
    assert.deepEqual(await tokens.verify(token), { ok: true, id: info.id });
    const file = readFileSync(join(dir, 'node-tokens.json'), 'utf8');
    const secret = token.split(':').at(-1) ?? '';
    assert.ok(!file.includes(secret), 'the secret must not be stored');
    assert.equal(statSync(join(dir, 'node-tokens.json')).mode & 0o777, 0o600);
    const listed = await tokens.list();
    assert.deepEqual(
      listed.map((t) => [t.id, t.kind, t.state, t.description]),
      [
        ['server', 'default', 'valid', `the server's token (${join(dir, 'node-token')})`],
        [info.id, 'created', 'valid', 'rack 7'],
      ],
    );
    // The id selects the token: the same secret under another id is refused.
    const wrongId = token.replace(`::${info.id}:`, '::ffffff:');
    assert.equal((await tokens.verify(wrongId)).ok, false);
  });

  it('refuses an expired token and lists it as expired', async () => {
    const tokens = new NodeTokenStore({ dataDir: dir, clock });
    const { token, info } = await tokens.create({ ttlMs: 60_000 });
    assert.equal((await tokens.verify(token)).ok, true);
    await clock.advance(60_000);
    assert.deepEqual(await tokens.verify(token), { ok: false, reason: `token ${info.id} has expired` });
    assert.equal((await tokens.list()).find((t) => t.id === info.id)?.state, 'expired');
  });

  it('revokes created tokens and the default token; a new default secret works again', async () => {
    const tokens = new NodeTokenStore({ dataDir: dir, clock });
    const { token, info } = await tokens.create();
    assert.equal(await tokens.revoke(info.id), true);
    assert.equal(await tokens.revoke(info.id), false);
    assert.equal((await tokens.verify(token)).ok, false);

    assert.equal(await tokens.revoke('server'), true);
    assert.equal(await tokens.revoke('server'), false);
    assert.equal((await tokens.verify(defaultSecret)).ok, false);
    assert.equal((await tokens.list())[0]?.state, 'revoked');
    // What the server does when the node-token file is removed and it restarts: a new secret.
    const fresh = 'c'.repeat(64);
    writeFileSync(join(dir, 'node-token'), formatNodeToken(ca.certPem, fresh));
    assert.deepEqual(await tokens.verify(formatNodeToken(ca.certPem, fresh)), { ok: true, id: 'server' });
    assert.equal(await tokens.revoke('nope'), false);
  });

  it('says what to do when the CA is missing or the file is corrupt', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'berth-tokens-empty-'));
    try {
      const tokens = new NodeTokenStore({ dataDir: empty, clock });
      await assert.rejects(tokens.create(), /start `berth server --data-dir .*` once/);
      writeFileSync(join(empty, 'node-tokens.json'), '{not json');
      await assert.rejects(tokens.list(), /node-tokens\.json: .*fix the file, or remove it/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
