import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fakeDiscovery, on } from '../client/fake-transport.js';
import { tableAccept } from '../client/kube-client.js';
import { fakeVerbDeps } from './fake-verb-deps.js';
import { runGet } from './get-command.js';

const table = (names: string[]): unknown => ({
  kind: 'Table',
  apiVersion: 'meta.k8s.io/v1',
  metadata: { resourceVersion: '9' },
  columnDefinitions: [
    { name: 'Name', type: 'string', format: 'name', priority: 0 },
    { name: 'Data', type: 'integer', format: '', priority: 0 },
    { name: 'Age', type: 'string', format: '', priority: 0 },
  ],
  rows: names.map((n) => ({ cells: [n, 1, '3s'], object: { metadata: { name: n, namespace: 'default' } } })),
});

describe('runGet', () => {
  it('asks for a Table and prints it with kubectl columns', async () => {
    const deps = fakeVerbDeps([
      ...fakeDiscovery(),
      on('GET', '/api/v1/namespaces/default/configmaps', { body: table(['a', 'long-name']) }),
    ]);
    assert.equal(await runGet(['cm'], {}, deps), 0);
    assert.equal(deps.stdout(), 'NAME        DATA   AGE\na           1      3s\nlong-name   1      3s\n');
    assert.equal(deps.transport.requests.at(-1)?.headers?.['Accept'], tableAccept);
  });

  it('says "No resources found in <ns> namespace." on stderr for an empty list', async () => {
    const deps = fakeVerbDeps([...fakeDiscovery(), on('GET', /configmaps/, { body: table([]) })]);
    assert.equal(await runGet(['configmaps'], { namespace: 'team' }, deps), 0);
    assert.equal(deps.stdout(), '');
    assert.equal(deps.stderr(), 'No resources found in team namespace.\n');
  });

  it('prints found names, then the NotFound errors, and exits 1', async () => {
    const deps = fakeVerbDeps([
      ...fakeDiscovery(),
      on('GET', '/api/v1/namespaces/default/configmaps/a', {
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } },
      }),
    ]);
    assert.equal(await runGet(['cm', 'a', 'b'], { output: 'name' }, deps), 1);
    assert.equal(deps.stdout(), 'configmap/a\n');
    assert.equal(
      deps.stderr(),
      'Error from server (NotFound): no fake for GET /api/v1/namespaces/default/configmaps/b\n',
    );
  });

  it('watches from the list resourceVersion and prints events as rows', async () => {
    const event = (type: string, name: string): unknown => ({
      type,
      object: { ...(table([name]) as object), columnDefinitions: [] },
    });
    const deps = fakeVerbDeps([
      ...fakeDiscovery(),
      on('GET', /configmaps\?resourceVersion=9&watch=true$/, {
        lines: [event('ADDED', 'b'), event('DELETED', 'a')],
      }),
      on('GET', '/api/v1/namespaces/default/configmaps', { body: table(['a']) }),
    ]);
    assert.equal(await runGet(['cm'], { watch: true, outputWatchEvents: true }, deps), 0);
    assert.equal(
      deps.stdout(),
      'EVENT      NAME   DATA   AGE\nADDED      a      1      3s\nADDED      b      1      3s\nDELETED    a      1      3s\n',
    );
  });
});
