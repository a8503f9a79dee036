import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { renderKubeconfig, writeKubeconfig } from './kubeconfig.js';

const caPem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n'.repeat(3);
const opts = { server: 'https://127.0.0.1:6443', caPem, token: 'abc123', name: 'berth' };

describe('kubeconfig', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-kubeconfig-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renders one cluster, one token user and a current context, on unfolded lines', () => {
    const text = renderKubeconfig(opts);
    assert.equal(text, renderKubeconfig({ ...opts }));
    const doc = parse(text) as Record<string, unknown>;
    assert.deepEqual(doc, {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'berth',
          cluster: {
            server: 'https://127.0.0.1:6443',
            'certificate-authority-data': Buffer.from(caPem).toString('base64'),
          },
        },
      ],
      users: [{ name: 'admin', user: { token: 'abc123' } }],
      contexts: [{ name: 'berth', context: { cluster: 'berth', user: 'admin' } }],
      'current-context': 'berth',
      preferences: {},
    });
    const caLine = text.split('\n').find((l) => l.includes('certificate-authority-data'));
    assert.ok(caLine !== undefined && caLine.length > 200);
  });

  it('writes a 0600 file that client-node reads', async () => {
    const path = join(dir, 'config');
    await writeKubeconfig(path, { ...opts, user: 'ops' });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    assert.equal(kc.getCurrentContext(), 'berth');
    assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
    assert.equal(kc.getCurrentCluster()?.caData, Buffer.from(caPem).toString('base64'));
    assert.deepEqual(
      { name: kc.getCurrentUser()?.name, token: kc.getCurrentUser()?.token },
      { name: 'ops', token: 'abc123' },
    );
    assert.match(await readFile(path, 'utf8'), /^apiVersion: v1\n/);
  });
});
