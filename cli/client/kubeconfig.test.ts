import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { isBerthError } from '../../lib/errors.js';
import { defaultKubeconfigPath, kubeconfigPaths, loadKubeconfig } from './kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-kubeconfig-test-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, opts: { current?: string; namespace?: string; server?: string } = {}): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: ${name}`,
      `  cluster: {server: "${opts.server ?? `https://${name}:6443`}"}`,
      'users:',
      `- name: ${name}-admin`,
      '  user: {token: t}',
      'contexts:',
      `- name: ${name}`,
      `  context: {cluster: ${name}, user: ${name}-admin${opts.namespace === undefined ? '' : `, namespace: ${opts.namespace}`}}`,
      ...(opts.current === undefined ? [] : [`current-context: ${opts.current}`]),
      '',
    ].join('\n'),
  );
  return path;
}

describe('kubeconfig resolution', () => {
  it('prefers --kubeconfig, then $KUBECONFIG, then the berth server default', () => {
    const base = { isRoot: false, home: '/home/u' };
    assert.deepEqual(kubeconfigPaths({ ...base, kubeconfig: '/a', envKubeconfig: '/b' }), ['/a']);
    assert.deepEqual(kubeconfigPaths({ ...base, envKubeconfig: `/b${delimiter}/c` }), ['/b', '/c']);
    assert.deepEqual(kubeconfigPaths(base), ['/home/u/.berth/kubeconfig.yaml']);
    assert.equal(defaultKubeconfigPath({ isRoot: true, home: '/root' }), '/var/lib/berth/kubeconfig.yaml');
  });

  it('loads the current context and its namespace, or "default"', () => {
    const loaded = loadKubeconfig({
      kubeconfig: config('one', { current: 'one', namespace: 'team' }),
      isRoot: false,
      home: dir,
    });
    assert.equal(loaded.kubeConfig.getCurrentCluster()?.server, 'https://one:6443');
    assert.equal(loaded.namespace, 'team');
    const plain = loadKubeconfig({ kubeconfig: config('two', { current: 'two' }), isRoot: false, home: dir });
    assert.equal(plain.namespace, 'default');
  });

  it('merges a $KUBECONFIG list with the first definitions winning and honours --context', () => {
    const a = config('a', { current: 'a' });
    const b = config('b', { current: 'b', namespace: 'bee' });
    const merged = loadKubeconfig({
      envKubeconfig: [join(dir, 'missing.yaml'), a, b].join(delimiter),
      isRoot: false,
      home: dir,
    });
    assert.equal(merged.kubeConfig.getCurrentContext(), 'a');
    const chosen = loadKubeconfig({
      envKubeconfig: [a, b].join(delimiter),
      context: 'b',
      isRoot: false,
      home: dir,
    });
    assert.equal(chosen.kubeConfig.getCurrentCluster()?.server, 'https://b:6443');
    assert.equal(chosen.namespace, 'bee');
  });

  it('fails with CONFIG_INVALID for a missing file or an unknown context', () => {
    assert.throws(
      () => loadKubeconfig({ isRoot: false, home: join(dir, 'nohome') }),
      (err: unknown) =>
        isBerthError(err, 'BERTH_ERR_CONFIG_INVALID') && /berth server writes it there/.test(err.message),
    );
    assert.throws(
      () =>
        loadKubeconfig({
          kubeconfig: config('c', { current: 'c' }),
          context: 'nope',
          isRoot: false,
          home: dir,
        }),
      /context "nope" does not exist/,
    );
  });
});
