import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseApplyPatchBody } from './apply-patch-body.js';

/** The body kubectl sends with `apply --server-side` (kubectl-transcripts/final.log), trimmed. */
const manifest = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { labels: { app: 'web' }, name: 'web', namespace: 'default' },
  spec: { replicas: 2, template: { spec: { containers: [{ image: 'nginx:1.27', name: 'web' }] } } },
};

describe('parseApplyPatchBody', () => {
  it('parses YAML and JSON bodies', () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: "1"\n';
    assert.deepEqual(parseApplyPatchBody(yaml), {
      ok: true,
      value: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: '1' } },
    });
    assert.deepEqual(parseApplyPatchBody(JSON.stringify(manifest)), { ok: true, value: manifest });
  });

  it('refuses an alias bomb', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const next = String.fromCharCode(97 + i);
      lines.push(
        `${next}: &${next} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`,
      );
    }
    const result = parseApplyPatchBody(`${lines.join('\n')}\n`);
    assert.equal(result.ok, false);
    assert.equal(result.reason, 'BadRequest');
  });

  it('rejects several documents, no document, invalid YAML and non-objects', () => {
    for (const body of [
      'a: 1\n---\nb: 2\n',
      '',
      '---\n',
      'a: [1,\n',
      '- 1\n- 2\n',
      'just a string',
      'a: &x 1\nb: *y\n',
    ]) {
      const result = parseApplyPatchBody(body);
      assert.equal(result.ok, false, JSON.stringify(body));
      assert.equal(result.reason, 'BadRequest');
    }
  });
});
