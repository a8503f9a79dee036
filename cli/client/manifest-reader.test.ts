import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../lib/errors.js';
import { parseManifests, readManifests, type ManifestIO } from './manifest-reader.js';

function fakeIO(files: Record<string, string>, extra: Partial<ManifestIO> = {}): ManifestIO {
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return {
    readFile: (p) =>
      files[p] === undefined ? Promise.reject(new Error(`no ${p}`)) : Promise.resolve(files[p]),
    kind: (p) => Promise.resolve(files[p] !== undefined ? 'file' : dirs.has(p) ? 'dir' : 'missing'),
    readDir: (p) =>
      Promise.resolve([
        ...new Set(
          [...Object.keys(files), ...dirs]
            .filter((f) => f.startsWith(`${p}/`))
            .map((f) => f.slice(p.length + 1).split('/')[0] ?? ''),
        ),
      ]),
    readStdin: () => Promise.resolve(''),
    fetchUrl: () => Promise.reject(new Error('offline')),
    ...extra,
  };
}

const cm = (name: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\n`;

describe('manifest reader', () => {
  it('reads multi-document YAML, skipping empty documents, and flattens Lists', () => {
    const objects = parseManifests(
      `${cm('a')}---\n---\n# only a comment\n---\n{"apiVersion":"v1","kind":"List","items":[${JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } })}]}\n`,
      'f.yaml',
    );
    assert.deepEqual(
      objects.map(
        (o) => `${JSON.stringify(o.object['kind'])}/${JSON.stringify(o.object['metadata'])}@${o.source}`,
      ),
      ['"ConfigMap"/{"name":"a"}@f.yaml', '"Secret"/{"name":"s"}@f.yaml'],
    );
  });

  it("rejects documents without apiVersion or kind with kubectl's message", () => {
    assert.throws(
      () => parseManifests('metadata: {name: x}\n', 'bad.yaml'),
      (err: unknown) =>
        isBerthError(err, 'BERTH_ERR_CONFIG_INVALID') &&
        err.message ===
          'error validating "bad.yaml": error validating data: [apiVersion not set, kind not set]',
    );
    assert.throws(() => parseManifests('a: [', 'broken.yaml'), /error parsing broken\.yaml/);
  });

  it('expands directories (manifest extensions only, subdirectories with -R), stdin and URLs', async () => {
    const io = fakeIO(
      {
        'd/a.yaml': cm('a'),
        'd/b.json': JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' } }),
        'd/x.txt': cm('x'),
        'd/sub/c.yml': cm('c'),
      },
      {
        readStdin: () => Promise.resolve(cm('stdin')),
        fetchUrl: (u) => Promise.resolve(u.endsWith('/u.yaml') ? cm('url') : ''),
      },
    );
    const names = async (files: string[], recursive: boolean): Promise<string[]> =>
      (await readManifests(files, { recursive, io })).map(
        (o) => `${(o.object['metadata'] as { name: string }).name}@${o.source}`,
      );
    assert.deepEqual(await names(['d'], false), ['a@d/a.yaml', 'b@d/b.json']);
    assert.deepEqual(await names(['d'], true), ['a@d/a.yaml', 'b@d/b.json', 'c@d/sub/c.yml']);
    assert.deepEqual(await names(['-', 'https://example.test/u.yaml'], false), [
      'stdin@STDIN',
      'url@https://example.test/u.yaml',
    ]);
    await assert.rejects(readManifests(['nope'], { recursive: false, io }), /the path "nope" does not exist/);
  });
});
