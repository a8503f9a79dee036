import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../lib/clock.js';
import { FakeImageService, normalizeReference } from './fake-image-service.js';
import { fakeAnnotations } from './fake-script.js';

describe('FakeImageService', () => {
  it('pulls after its delay, by pod annotation or default, and then has the image', async () => {
    const clock = new FakeClock();
    const images = new FakeImageService({ clock, pullDelayMs: 1000 });
    let done = false;
    const p = images.pull('busybox:1.36').then((r) => {
      done = r.ok;
    });
    await clock.advance(999);
    assert.equal(done, false);
    await clock.advance(1);
    await p;
    assert.equal(done, true);
    const st = await images.status('docker.io/library/busybox:1.36');
    assert.deepEqual(st?.references, ['docker.io/library/busybox:1.36']);
    assert.match(st.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await images.status(st.digest))?.digest, st.digest, 'found by digest too');

    const slow = images.pull('nginx', { podAnnotations: { [fakeAnnotations.pullDelayMs]: '5000' } });
    await clock.advance(4000);
    assert.equal(await images.status('nginx'), undefined);
    await clock.advance(1000);
    assert.equal((await slow).ok, true);
    assert.equal((await images.list()).length, 2);
    assert.equal(await images.remove('nginx:latest'), true);
    assert.equal(await images.remove('nginx:latest'), false);
  });

  it('fails refs containing notfound or unauthorized, and honours abort', async () => {
    const clock = new FakeClock();
    const images = new FakeImageService({ clock, preloaded: ['busybox'] });
    const nf = await images.pull('example.com/notfound:1');
    assert.equal(nf.ok ? '' : nf.reason, 'NotFound');
    const un = await images.pull('example.com/unauthorized:1');
    assert.equal(un.ok ? '' : un.reason, 'Unauthorized');
    assert.ok(await images.status('busybox:latest'));
    const ac = new AbortController();
    const p = new FakeImageService({ clock, pullDelayMs: 10_000 }).pull('x', { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
  });

  it('normalises references like Docker', () => {
    assert.equal(normalizeReference('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(normalizeReference('me/app:1'), 'docker.io/me/app:1');
    assert.equal(normalizeReference('localhost:5000/app'), 'localhost:5000/app:latest');
    assert.equal(normalizeReference('quay.io/a/b@sha256:abc'), 'quay.io/a/b@sha256:abc');
  });
});
