import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';

describe('writeFileAtomic', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-atomic-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a file with exactly the given mode, whatever the umask', async () => {
    const path = join(dir, 'a');
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(path, 'one', 0o644);
    } finally {
      process.umask(old);
    }
    assert.equal(await readFile(path, 'utf8'), 'one');
    assert.equal((await stat(path)).mode & 0o777, 0o644);
  });

  it('replaces an existing file and its mode, leaving no temporary file', async () => {
    const path = join(dir, 'b');
    await writeFile(path, 'old', { mode: 0o666 });
    await writeFileAtomic(path, 'new', 0o600);
    assert.equal(await readFile(path, 'utf8'), 'new');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.includes('.tmp-')),
      [],
    );
  });

  it('fails without touching the target or leaving debris when the target cannot be replaced', async () => {
    await assert.rejects(writeFileAtomic(join(dir, 'missing', 'inner'), 'x', 0o600), { code: 'ENOENT' });
    // A non-empty directory where the file should go: rename(2) refuses; the temp file is removed.
    const target = join(dir, 'occupied');
    await mkdir(target);
    await writeFile(join(target, 'keep'), 'k');
    await assert.rejects(writeFileAtomic(target, 'x', 0o600));
    assert.equal(await readFile(join(target, 'keep'), 'utf8'), 'k');
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.includes('.tmp-')),
      [],
    );
  });
});
