import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Digest } from './digest.js';
import { ImageDb, type StoredImage } from './image-db.js';

const dg = (s: string): string => sha256Digest(s);

function image(name: string): Omit<StoredImage, 'references' | 'createdAt' | 'lastUsedAt'> {
  return {
    digest: dg(`${name}-index`),
    manifestDigest: dg(`${name}-manifest`),
    mediaType: 'application/vnd.oci.image.index.v1+json',
    configDigest: dg(`${name}-config`),
    platform: 'linux/amd64',
    layers: [
      {
        digest: dg(`${name}-l1`),
        mediaType: 'x',
        size: 10,
        diffId: dg(`${name}-d1`),
        chainId: dg(`${name}-d1`),
      },
    ],
    config: { cmd: ['/bin/sh'] },
    size: 100,
  };
}

describe('ImageDb', () => {
  let dir: string;
  let db: ImageDb;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-imagedb-'));
    db = ImageDb.open(join(dir, 'metadata.db'));
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds images by reference (normalised), digests and id prefix', () => {
    const a = image('a');
    db.putImage(a, 'docker.io/library/app:1', 1000);
    db.putImage(a, `docker.io/library/app@${a.digest}`, 1000);
    for (const q of [
      'app:1',
      'docker.io/library/app:1',
      a.digest,
      a.manifestDigest,
      a.configDigest,
      a.configDigest.slice(7, 19),
      `app@${a.digest}`,
    ]) {
      assert.equal(db.findImage(q)?.digest, a.digest, q);
    }
    assert.equal(db.findImage('app:2'), undefined);
    assert.equal(db.findImage('Bad Ref'), undefined);
    assert.deepEqual(db.findImage('app:1')?.references, [
      'docker.io/library/app:1',
      `docker.io/library/app@${a.digest}`,
    ]);
  });

  it('moves a tag to a newly pulled image and keeps the old one dangling', () => {
    const b = image('b');
    db.putImage(b, 'docker.io/library/app:1', 2000);
    assert.equal(db.findImage('app:1')?.digest, b.digest);
    const a = db.getImage(image('a').digest);
    assert.deepEqual(a?.references, [`docker.io/library/app@${image('a').digest}`]);
    assert.equal(db.deleteImage(b.digest), true);
    assert.equal(db.findImage('app:1'), undefined);
  });

  it('snapshot ids are never reused; commit states', () => {
    const r1 = db.reserveSnapshot({ chainId: dg('c1'), parent: undefined, diffId: dg('c1'), size: 1 }, 1);
    assert.ok(r1.reserved);
    db.markSnapshotCommitted(dg('c1'));
    const again = db.reserveSnapshot({ chainId: dg('c1'), parent: undefined, diffId: dg('c1'), size: 1 }, 2);
    assert.equal(again.reserved, false);
    db.deleteSnapshot(dg('c1'));
    const r2 = db.reserveSnapshot({ chainId: dg('c1'), parent: undefined, diffId: dg('c1'), size: 1 }, 3);
    assert.ok(r2.reserved);
    assert.ok(r2.id > r1.id);
  });

  it('rootfs leases', () => {
    db.putRootfs('c1', dg('x'), 5);
    db.putRootfs('c1', dg('y'), 6);
    assert.equal(db.getRootfs('c1')?.imageDigest, dg('x'));
    assert.equal(db.deleteRootfs('c1'), true);
    assert.equal(db.deleteRootfs('c1'), false);
  });
});
