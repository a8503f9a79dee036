import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCodes, isBerthError } from '../../lib/errors.js';
import { ContentStore } from './content-store.js';
import { sha256Digest } from './digest.js';

describe('ContentStore', () => {
  let dir: string;
  let store: ContentStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-content-'));
    store = new ContentStore(dir);
    await store.init();
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const ingest = (): string[] => readdirSync(join(dir, 'ingest'));

  it('commits verified blobs under blobs/sha256/<hex>', async () => {
    const data = Buffer.from('hello blob');
    const digest = sha256Digest(data);
    const w = store.createWriter({ digest, size: data.length });
    w.write(data.subarray(0, 5));
    w.write(data.subarray(5));
    assert.equal(w.bytes, data.length);
    assert.deepEqual(await w.commit(), { digest, size: data.length });
    assert.equal(await store.has(digest), true);
    assert.deepEqual(await store.readBlob(digest, 100), data);
    assert.deepEqual(ingest(), []);
  });

  it('reads back what was written while writing goes on, then still commits', async () => {
    const data = Buffer.from('0123456789abcdefghij');
    const digest = sha256Digest(data);
    const w = store.createWriter({ digest, size: data.length });
    w.write(data.subarray(0, 12));
    const buf = new Uint8Array(8);
    assert.equal(w.read(buf, 0), 8);
    assert.equal(Buffer.from(buf).toString(), '01234567');
    // Only what was written so far: 4 bytes from offset 8.
    assert.equal(w.read(buf, 8), 4);
    assert.equal(Buffer.from(buf.subarray(0, 4)).toString(), '89ab');
    w.write(data.subarray(12));
    assert.equal(w.read(buf, 12), 8);
    assert.equal(Buffer.from(buf).toString(), 'cdefghij');
    assert.deepEqual(await w.commit(), { digest, size: data.length });
    assert.deepEqual(await store.readBlob(digest, 100), data);
    assert.throws(() => w.read(buf, 0), /read after commit/);
  });

  it('refuses a digest mismatch and leaves nothing behind', async () => {
    const data = Buffer.from('real bytes');
    const digest = sha256Digest('other bytes');
    const w = store.createWriter({ digest, size: data.length });
    w.write(data);
    await assert.rejects(
      w.commit(),
      (err) => isBerthError(err, errorCodes.IMAGE_INVALID) && /digest mismatch/.test(err.message),
    );
    assert.equal(await store.has(digest), false);
    assert.deepEqual(ingest(), []);
  });

  it('refuses more bytes than declared at once, and fewer at commit', async () => {
    const data = Buffer.from('0123456789');
    const w = store.createWriter({ digest: sha256Digest(data), size: 5 });
    assert.throws(
      () => {
        w.write(data);
      },
      (err) => isBerthError(err, errorCodes.IMAGE_INVALID),
    );
    await w.abort();
    const short = store.createWriter({ digest: sha256Digest(data), size: 10 });
    short.write(data.subarray(0, 4));
    await assert.rejects(short.commit(), /got 4 bytes/);
    assert.deepEqual(ingest(), []);
  });

  it('never builds a path from an invalid digest', () => {
    for (const bad of ['sha256:../../etc/passwd', `md5:${'a'.repeat(32)}`, '']) {
      assert.throws(
        () => store.blobPath(bad),
        (err) => isBerthError(err, errorCodes.IMAGE_INVALID),
      );
    }
  });

  it('detects a blob corrupted on disk', async () => {
    const data = Buffer.from('will rot');
    const digest = sha256Digest(data);
    await store.putBlob({ digest, size: data.length }, data);
    writeFileSync(store.blobPath(digest), 'will ROT');
    await assert.rejects(store.readBlob(digest, 100), /corrupt/);
  });

  it('learns the digest of unverified content, lists and deletes', async () => {
    const w = store.createUnverifiedWriter();
    w.write(Buffer.from('layer tar'));
    const info = await w.commit();
    assert.equal(info.digest, sha256Digest('layer tar'));
    assert.ok((await store.list()).some((b) => b.digest === info.digest));
    assert.equal(await store.delete(info.digest), true);
    assert.equal(await store.delete(info.digest), false);
  });

  it('init() removes ingest files left by a crash', async () => {
    writeFileSync(join(dir, 'ingest', 'leftover'), 'x');
    await store.init();
    assert.deepEqual(ingest(), []);
  });
});
