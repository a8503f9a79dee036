import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/status.js';
import { parseListOptions } from './watch-events.js';

const q = (s: string): URLSearchParams => new URLSearchParams(s);

function status(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return { code: err.status.code, message: err.status.message };
  }
  assert.fail('expected an ApiError');
}

describe('parseListOptions', () => {
  it('reads a watch-list request', () => {
    assert.deepEqual(
      parseListOptions(
        q(
          'watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=30',
        ),
        true,
      ),
      {
        resourceVersionMatch: 'NotOlderThan',
        sendInitialEvents: true,
        allowWatchBookmarks: true,
        timeoutSeconds: 30,
      },
    );
  });

  it('reads a plain list and a plain watch', () => {
    assert.deepEqual(parseListOptions(q('limit=500&continue=abc'), false), {
      allowWatchBookmarks: false,
      limit: 500,
      continue: 'abc',
    });
    assert.deepEqual(parseListOptions(q('resourceVersion=42'), true), {
      resourceVersion: '42',
      allowWatchBookmarks: false,
    });
  });

  it('rejects sendInitialEvents without resourceVersionMatch=NotOlderThan, as kube-apiserver does', () => {
    const s = status(() => parseListOptions(q('sendInitialEvents=true'), true));
    assert.equal(s.code, 422);
    assert.equal(
      s.message,
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
    );
  });

  it('rejects resourceVersionMatch on a watch without sendInitialEvents', () => {
    const s = status(() => parseListOptions(q('resourceVersionMatch=NotOlderThan'), true));
    assert.equal(s.code, 422);
    assert.match(
      s.message,
      /resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided/,
    );
  });

  it('validates list options', () => {
    assert.match(
      status(() => parseListOptions(q('resourceVersionMatch=Exact'), false)).message,
      /resourceVersionMatch is forbidden unless resourceVersion is provided/,
    );
    assert.match(
      status(() => parseListOptions(q('resourceVersion=0&resourceVersionMatch=Exact'), false)).message,
      /resourceVersionMatch "exact" is forbidden for resourceVersion "0"/,
    );
    assert.match(
      status(() => parseListOptions(q('resourceVersion=3&resourceVersionMatch=Newest'), false)).message,
      /Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""/,
    );
    assert.match(
      status(() => parseListOptions(q('sendInitialEvents=true'), false)).message,
      /sendInitialEvents is forbidden for list/,
    );
  });

  it('answers 400 for malformed values', () => {
    assert.equal(status(() => parseListOptions(q('resourceVersion=abc'), true)).code, 400);
    assert.equal(status(() => parseListOptions(q('allowWatchBookmarks=maybe'), true)).code, 400);
  });
});
