import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultPullPolicy,
  familiarReference,
  formatReference,
  needsPull,
  parseImageReference,
} from './image-reference.js';

const dgst = `sha256:${'ab'.repeat(32)}`;

function normal(s: string): string {
  const r = parseImageReference(s);
  if (!r.ok) throw new Error(r.message);
  return formatReference(r.ref);
}

describe('parseImageReference normalisation (Docker rules)', () => {
  const cases: [string, string][] = [
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.25', 'docker.io/library/nginx:1.25'],
    ['library/nginx', 'docker.io/library/nginx:latest'],
    ['user/app:v1', 'docker.io/user/app:v1'],
    ['docker.io/nginx', 'docker.io/library/nginx:latest'],
    ['index.docker.io/nginx', 'docker.io/library/nginx:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/berth/busybox:latest', '127.0.0.1:5000/berth/busybox:latest'],
    ['ghcr.io/org/team/app:1.0', 'ghcr.io/org/team/app:1.0'],
    ['Example.com/app', 'Example.com/app:latest'],
    ['[::1]:5000/app:t', '[::1]:5000/app:t'],
    [`nginx@${dgst}`, `docker.io/library/nginx@${dgst}`],
    [`nginx:1.25@${dgst}`, `docker.io/library/nginx:1.25@${dgst}`],
    ['a/b-c__d.e/f---g:T_a.g-1', 'docker.io/a/b-c__d.e/f---g:T_a.g-1'],
  ];
  for (const [input, want] of cases) {
    it(`${input} → ${want}`, () => {
      assert.equal(normal(input), want);
    });
  }

  it('keeps tag and digest apart', () => {
    const r = parseImageReference(`host:5000/x/y:t@${dgst}`);
    assert.ok(r.ok);
    assert.deepEqual(r.ref, { domain: 'host:5000', path: 'x/y', tag: 't', digest: dgst });
  });

  it('familiar form drops docker.io and library/', () => {
    const r = parseImageReference('nginx');
    assert.ok(r.ok);
    assert.equal(familiarReference(r.ref), 'nginx:latest');
  });
});

describe('parseImageReference errors', () => {
  const bad: [string, RegExp][] = [
    ['', /at least one component/],
    ['Nginx', /must be lowercase/],
    ['docker.io/User/app', /must be lowercase/],
    ['a'.repeat(64).replace(/a/g, 'f'), /64-byte hexadecimal/],
    ['nginx@sha256:abc', /invalid digest/],
    ['nginx@md5:' + 'a'.repeat(32), /invalid digest/],
    ['nginx:-bad', /invalid tag/],
    ['nginx:' + 'a'.repeat(129), /invalid tag/],
    ['a//b', /empty component/],
    ['a/b_', /invalid repository name component/],
    ['-host.com/x', /invalid registry host|component/],
    ['has space', /whitespace/],
    ['x/' + 'a'.repeat(260), /not be more than 255/],
  ];
  for (const [input, re] of bad) {
    it(`rejects ${JSON.stringify(input.slice(0, 30))}`, () => {
      const r = parseImageReference(input);
      assert.equal(r.ok, false);
      assert.match(r.message, re);
    });
  }
});

describe('pull policy', () => {
  it('defaults like Kubernetes', () => {
    assert.equal(defaultPullPolicy('nginx'), 'Always');
    assert.equal(defaultPullPolicy('nginx:latest'), 'Always');
    assert.equal(defaultPullPolicy('nginx:1.25'), 'IfNotPresent');
    assert.equal(defaultPullPolicy('localhost:5000/app'), 'Always');
    assert.equal(defaultPullPolicy('localhost:5000/app:v1'), 'IfNotPresent');
    assert.equal(defaultPullPolicy(`nginx@${dgst}`), 'IfNotPresent');
    assert.equal(defaultPullPolicy(`nginx:latest@${dgst}`), 'Always');
  });

  it('needsPull', () => {
    assert.equal(needsPull('Always', true), true);
    assert.equal(needsPull('IfNotPresent', true), false);
    assert.equal(needsPull('IfNotPresent', false), true);
    assert.equal(needsPull('Never', false), false);
  });
});
