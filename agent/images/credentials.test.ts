import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandRunner } from '../../lib/command-runner.js';
import {
  credentialsFromPullSecret,
  dockerConfigCredentials,
  matchCredentials,
  parseDockerConfig,
} from './credentials.js';
import type { RegistryCredentials } from './image-service.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('parseDockerConfig', () => {
  it('reads auth (base64), username/password, identitytoken, helpers', () => {
    const c = parseDockerConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hub:pa:ss') },
          'reg.example.com': { username: 'u', password: 'p' },
          'tok.example.com': { identitytoken: 'refresh' },
          'empty.example.com': {},
        },
        credHelpers: { 'gcr.io': 'gcloud', bad: '../../bin/sh' },
        credsStore: 'pass',
      }),
    );
    assert.deepEqual(c.auths.get('https://index.docker.io/v1/'), { username: 'hub', password: 'pa:ss' });
    assert.deepEqual(c.auths.get('reg.example.com'), { username: 'u', password: 'p' });
    assert.deepEqual(c.auths.get('tok.example.com'), { identityToken: 'refresh' });
    assert.equal(c.auths.has('empty.example.com'), false);
    assert.deepEqual(c.credHelpers, { 'gcr.io': 'gcloud' });
    assert.equal(c.credsStore, 'pass');
  });

  it('accepts the legacy bare dockercfg map and rejects junk', () => {
    assert.deepEqual(parseDockerConfig(JSON.stringify({ 'r.io': { auth: b64('a:b') } })).auths.get('r.io'), {
      username: 'a',
      password: 'b',
    });
    assert.throws(() => parseDockerConfig('{'), /not valid JSON/);
  });

  it('reads pull secrets', () => {
    const data = { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'r.io': { auth: b64('a:b') } } })) };
    assert.deepEqual(credentialsFromPullSecret('kubernetes.io/dockerconfigjson', data).get('r.io'), {
      username: 'a',
      password: 'b',
    });
    assert.equal(credentialsFromPullSecret('Opaque', data).size, 0);
  });
});

describe('matchCredentials (kubelet keyring semantics)', () => {
  const c = (u: string): RegistryCredentials => ({ username: u, password: 'x' });
  const map = new Map<string, RegistryCredentials>([
    ['https://index.docker.io/v1/', c('hub')],
    ['quay.io', c('quay')],
    ['quay.io/coreos', c('coreos')],
    ['*.example.com', c('wild')],
    ['http://localhost:5000', c('local')],
  ]);
  const users = (image: string): (string | undefined)[] =>
    matchCredentials(map, image).map((x) => x.username);

  it('more specific paths first, then the host', () => {
    assert.deepEqual(users('quay.io/coreos/etcd'), ['coreos', 'quay']);
    assert.deepEqual(users('quay.io/other/x'), ['quay']);
  });
  it('globs match one label; ports must match', () => {
    assert.deepEqual(users('a.example.com/x'), ['wild']);
    assert.deepEqual(users('a.b.example.com/x'), []);
    assert.deepEqual(users('localhost:5000/app'), ['local']);
    assert.deepEqual(users('localhost:5001/app'), []);
  });
  it('Docker Hub images use index.docker.io credentials', () => {
    assert.deepEqual(users('docker.io/library/nginx'), ['hub']);
  });
});

describe('dockerConfigCredentials', () => {
  const runner = (out: string, code = 0): CommandRunner & { calls: unknown[] } => {
    const calls: unknown[] = [];
    return {
      calls,
      run: (file, args, opts) => {
        calls.push({ file, args, input: opts?.input });
        return Promise.resolve({ code, stdout: out, stderr: '' });
      },
    };
  };

  it('runs the per-host helper with the server URL on stdin', async () => {
    const config = parseDockerConfig(JSON.stringify({ credHelpers: { 'docker.io': 'secretservice' } }));
    const r = runner(JSON.stringify({ ServerURL: 'x', Username: 'u', Secret: 's' }));
    const creds = await dockerConfigCredentials(config, 'docker.io/library/x', 'docker.io', r);
    assert.deepEqual(creds, { username: 'u', password: 's' });
    assert.deepEqual(r.calls, [
      { file: 'docker-credential-secretservice', args: ['get'], input: 'https://index.docker.io/v1/' },
    ]);
  });

  it('maps <token> to an identity token, and a failing helper to none', async () => {
    const config = parseDockerConfig(JSON.stringify({ credsStore: 'desktop' }));
    assert.deepEqual(
      await dockerConfigCredentials(
        config,
        'r.io/x',
        'r.io',
        runner(JSON.stringify({ Username: '<token>', Secret: 't' })),
      ),
      { identityToken: 't' },
    );
    assert.equal(await dockerConfigCredentials(config, 'r.io/x', 'r.io', runner('not found', 1)), undefined);
  });
});
