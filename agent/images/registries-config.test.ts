import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endpointsFor, isLoopbackHost, parseRegistriesConfig } from './registries-config.js';

const files: Record<string, string> = { '/ca.pem': 'CA PEM' };
const read = (p: string): Promise<string> =>
  p in files ? Promise.resolve(files[p] ?? '') : Promise.reject(new Error(`ENOENT ${p}`));

describe('registries config', () => {
  it('parses mirrors, rewrites and host configs', async () => {
    const c = await parseRegistriesConfig(
      `
mirrors:
  docker.io:
    endpoint: ["https://mirror.example.com:5000/prefix", "http://10.0.0.5:5000"]
    rewrite:
      "^rancher/(.*)": "mirror/rancher/$1"
configs:
  mirror.example.com:5000:
    auth: { username: u, password: p }
    tls: { ca_file: /ca.pem }
  10.0.0.5:5000:
    auth: { auth: ${Buffer.from('a:b').toString('base64')} }
  insecure.example.com:
    tls: { insecure_skip_verify: true }
`,
      read,
    );
    const eps = endpointsFor(c, 'docker.io', 'rancher/k3s');
    assert.deepEqual(
      eps.map((e) => [
        e.apiBase,
        e.repository,
        e.mirror,
        e.credentials?.username,
        e.tls.ca,
        e.plainHttpFallback,
      ]),
      [
        ['https://mirror.example.com:5000/prefix/v2', 'mirror/rancher/k3s', true, 'u', 'CA PEM', false],
        ['http://10.0.0.5:5000/v2', 'mirror/rancher/k3s', true, 'a', undefined, false],
        ['https://registry-1.docker.io/v2', 'rancher/k3s', false, undefined, undefined, false],
      ],
    );
    const ins = endpointsFor(c, 'insecure.example.com', 'x');
    assert.equal(ins.length, 1);
    assert.equal(ins[0]?.plainHttpFallback, true);
    assert.equal(ins[0].tls.insecureSkipVerify, true);
  });

  it('uses the * mirror when the registry has none, and is empty for an empty file', async () => {
    const c = await parseRegistriesConfig('mirrors:\n  "*":\n    endpoint: ["http://cache:5000"]\n', read);
    assert.deepEqual(
      endpointsFor(c, 'ghcr.io', 'a/b').map((e) => e.apiBase),
      ['http://cache:5000/v2', 'https://ghcr.io/v2'],
    );
    assert.equal((await parseRegistriesConfig('', read)).mirrors.size, 0);
  });

  it('rejects bad files clearly', async () => {
    await assert.rejects(parseRegistriesConfig('mirrors: [1]', read), /"mirrors" must be a mapping/);
    await assert.rejects(
      parseRegistriesConfig('mirrors:\n  x:\n    endpoint: ["ftp://a"]\n', read),
      /http or https/,
    );
    await assert.rejects(
      parseRegistriesConfig('configs:\n  x:\n    tls: { ca_file: /nope }\n', read),
      /cannot read/,
    );
  });

  it('loopback hosts get plain-HTTP fallback without configuration', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.9.9.9', '[::1]:5000', '::1']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ['128.0.0.1', 'example.com', '10.0.0.1:5000', 'localhost.example.com']) {
      assert.equal(isLoopbackHost(h), false, h);
    }
    const eps = endpointsFor({ mirrors: new Map(), configs: new Map() }, '127.0.0.1:5000', 'x');
    assert.equal(eps[0]?.plainHttpFallback, true);
  });
});
