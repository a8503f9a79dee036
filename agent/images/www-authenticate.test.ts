import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate } from './www-authenticate.js';

describe('parseWwwAuthenticate', () => {
  it('parses a registry Bearer challenge', () => {
    assert.deepEqual(
      parseWwwAuthenticate(
        'Bearer realm="http://127.0.0.1:5004/token",service="berth-registry",scope="repository:berth/busybox:pull,push",error="insufficient_scope"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'http://127.0.0.1:5004/token',
            service: 'berth-registry',
            scope: 'repository:berth/busybox:pull,push',
            error: 'insufficient_scope',
          },
        },
      ],
    );
  });

  it('parses Basic, several challenges, unquoted values and escapes', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm="a \\"b\\"", Bearer realm=x, service = "s"'), [
      { scheme: 'basic', params: { realm: 'a "b"' } },
      { scheme: 'bearer', params: { realm: 'x', service: 's' } },
    ]);
  });

  it('is total on junk', () => {
    assert.deepEqual(parseWwwAuthenticate(undefined), []);
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate('Negotiate abc=='), [{ scheme: 'negotiate', params: { abc: '' } }]);
    assert.ok(Array.isArray(parseWwwAuthenticate('"=,,= ="')));
  });
});
