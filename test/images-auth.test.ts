/**
 * Registry authentication and transport against real docker-registry instances: htpasswd Basic auth
 * (credentials from a pull secret, the registries file and a Docker config; none and wrong ones as
 * clear `Unauthorized` results), Docker token auth (anonymous and with credentials, tokens cached),
 * and TLS with a self-signed CA (refused without it, accepted with it in the registries file).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentialsFromPullSecret, parseDockerConfig } from '../agent/images/credentials.js';
import { parseRegistriesConfig } from '../agent/images/registries-config.js';
import {
  busyboxAvailable,
  busyboxEntries,
  makeImage,
  makeLayer,
  makeTar,
  pushImage,
  type Image,
} from './harness/images.js';
import { openTestImageService, type TestImageService } from './harness/image-service.js';
import {
  htpasswdAvailable,
  registryAvailable,
  startRegistry,
  type RegistryHandle,
} from './harness/registry.js';

const skip = registryAvailable() ?? busyboxAvailable();
if (skip !== undefined) console.log(`# skipping registry auth tests: ${skip}`);

let image: Image | undefined;
async function busybox(): Promise<Image> {
  image ??= makeImage([makeLayer(await makeTar(busyboxEntries()))]);
  return image;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('htpasswd (Basic) registry', { skip: skip ?? htpasswdAvailable() }, () => {
  /** Undone in reverse order after the suite, whatever failed. */
  const cleanup: (() => Promise<void>)[] = [];
  let reg: RegistryHandle;
  let ref: string;
  const services: TestImageService[] = [];
  const open = async (...args: Parameters<typeof openTestImageService>): Promise<TestImageService> => {
    const s = await openTestImageService(...args);
    services.push(s);
    return s;
  };

  before(async () => {
    reg = await startRegistry({ mode: 'htpasswd', users: { berth: 's3cret' } });
    cleanup.push(() => reg.stop());
    await pushImage(reg, 'private/app', 'v1', await busybox());
    ref = `${reg.host}/private/app:v1`;
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
    for (const s of services) await s.close();
  });

  it('without credentials: Unauthorized with a clear message', async () => {
    const t = await open();
    const r = await t.service.pull(ref);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'Unauthorized');
    assert.match(r.message, /pull access denied for .*private\/app.*authentication required/);
  });

  it('with wrong credentials from a pull secret: Unauthorized, "credentials refused"', async () => {
    const t = await open();
    const creds = credentialsFromPullSecret('kubernetes.io/dockerconfigjson', {
      '.dockerconfigjson': b64(JSON.stringify({ auths: { [reg.host]: { auth: b64('berth:wrong') } } })),
    });
    const r = await t.service.pull(ref, { credentials: creds });
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'Unauthorized');
    assert.match(r.message, /credentials refused/);
  });

  it('with the right credentials from a pull secret, and the wrong one tried first', async () => {
    const t = await open();
    const creds = credentialsFromPullSecret('kubernetes.io/dockerconfigjson', {
      '.dockerconfigjson': b64(
        JSON.stringify({
          auths: {
            // The more specific key is tried first (kubelet order) and is wrong; the next one works.
            [`${reg.host}/private`]: { auth: b64('berth:wrong') },
            [reg.host]: { username: 'berth', password: 's3cret' },
          },
        }),
      ),
    });
    const r = await t.service.pull(ref, { credentials: creds });
    assert.ok(r.ok, r.ok ? '' : r.message);
  });

  it('with credentials from the registries file', async () => {
    const registries = await parseRegistriesConfig(
      `configs:\n  "${reg.host}":\n    auth:\n      username: berth\n      password: s3cret\n`,
    );
    const t = await open({ registries });
    assert.ok((await t.service.pull(ref)).ok);
  });

  it('with credentials from a Docker config (auths and a credential helper)', async () => {
    const t = await open({
      dockerConfig: parseDockerConfig(
        JSON.stringify({ auths: { [reg.host]: { auth: b64('berth:s3cret') } } }),
      ),
    });
    assert.ok((await t.service.pull(ref)).ok);
    // A credential helper on PATH: docker-credential-berthtest prints the secret for any server.
    const bin = join(t.root, 'bin');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'docker-credential-berthtest'),
      '#!/bin/sh\nread server\necho "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"berth\\",\\"Secret\\":\\"s3cret\\"}"\n',
      { mode: 0o755 },
    );
    const oldPath = process.env['PATH'];
    process.env['PATH'] = `${bin}:${oldPath ?? ''}`;
    try {
      const t2 = await open({
        dockerConfig: parseDockerConfig(JSON.stringify({ credHelpers: { [reg.host]: 'berthtest' } })),
      });
      assert.ok((await t2.service.pull(ref)).ok);
    } finally {
      process.env['PATH'] = oldPath;
    }
  });
});

describe('token-auth registry', { skip }, () => {
  /** Undone in reverse order after the suite, whatever failed. */
  const cleanup: (() => Promise<void>)[] = [];
  let reg: RegistryHandle;
  let closedReg: RegistryHandle;
  const services: TestImageService[] = [];
  before(async () => {
    reg = await startRegistry({ mode: 'token' });
    cleanup.push(() => reg.stop());
    closedReg = await startRegistry({ mode: 'token', anonymousPull: false });
    cleanup.push(() => closedReg.stop());
    await pushImage(reg, 'berth/app', 'v1', await busybox());
    await pushImage(closedReg, 'berth/app', 'v1', await busybox());
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
    for (const s of services) await s.close();
  });

  it('pulls anonymously with a bearer token, fetching the token once', async () => {
    const t = await openTestImageService();
    services.push(t);
    const before = reg.tokenRequests();
    const r = await t.service.pull(`${reg.host}/berth/app:v1`);
    assert.ok(r.ok, r.ok ? '' : r.message);
    // Manifest, config and layer all use the cached token.
    assert.equal(reg.tokenRequests() - before, 1);
  });

  it('credentials: accepted when right, Unauthorized from the token server when wrong', async () => {
    const t = await openTestImageService();
    services.push(t);
    const good = await t.service.pull(`${closedReg.host}/berth/app:v1`, {
      credentials: new Map([[closedReg.host, { username: 'berth', password: 's3cret' }]]),
    });
    assert.ok(good.ok, good.ok ? '' : good.message);
    const t2 = await openTestImageService();
    services.push(t2);
    const bad = await t2.service.pull(`${closedReg.host}/berth/app:v1`, {
      credentials: new Map([[closedReg.host, { username: 'berth', password: 'nope' }]]),
    });
    assert.equal(bad.ok, false);
    assert.equal(bad.reason, 'Unauthorized');
    assert.match(bad.message, /invalid username or password/);
    const anon = await t2.service.pull(`${closedReg.host}/berth/app:v1`);
    assert.equal(anon.ok, false);
    assert.equal(anon.reason, 'Unauthorized');
  });
});

describe('TLS registry with a self-signed CA', { skip }, () => {
  /** Undone in reverse order after the suite, whatever failed. */
  const cleanup: (() => Promise<void>)[] = [];
  let reg: RegistryHandle;
  const services: TestImageService[] = [];
  before(async () => {
    reg = await startRegistry({ mode: 'tls' });
    cleanup.push(() => reg.stop());
    await pushImage(reg, 'berth/app', 'v1', await busybox());
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
    for (const s of services) await s.close();
  });

  it('refuses an untrusted certificate (no silent fallback to HTTP, even on loopback)', async () => {
    const t = await openTestImageService({ maxAttempts: 2 });
    services.push(t);
    const r = await t.service.pull(`${reg.host}/berth/app:v1`);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'Failed');
    assert.match(r.message, /certificate|self.signed|configure a CA/i);
  });

  it('pulls with the CA from the registries file', async () => {
    const caFile = join(reg.storageDir, '..', 'ca.crt');
    const registries = await parseRegistriesConfig(
      `configs:\n  "${reg.host}":\n    tls:\n      ca_file: ${caFile}\n`,
    );
    const t = await openTestImageService({ registries });
    services.push(t);
    const r = await t.service.pull(`${reg.host}/berth/app:v1`);
    assert.ok(r.ok, r.ok ? '' : r.message);
  });
});
