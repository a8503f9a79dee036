import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  invalidPayloadPath,
  readPublished,
  writePayloadAtomically,
  type PayloadFile,
} from './atomic-writer.js';

const file = (text: string, mode = 0o644): PayloadFile => ({ data: Buffer.from(text), mode });
const t0 = Date.UTC(2026, 10, 27, 23, 58, 1);

describe('writePayloadAtomically', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-atomic-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes files behind ..data with one symlink per top-level path', async () => {
    const changed = await writePayloadAtomically(
      dir,
      new Map([
        ['a', file('1')],
        ['sub/b', file('2', 0o400)],
      ]),
      t0,
    );
    assert.equal(changed, true);
    const entries = (await readdir(dir)).sort();
    assert.equal(entries.length, 4);
    const ts = await readlink(join(dir, '..data'));
    assert.match(ts, /^\.\.2026_11_27_23_58_01\.[0-9a-f]+$/);
    assert.deepEqual(entries, ['..data', ts, 'a', 'sub'].sort());
    assert.equal(await readlink(join(dir, 'a')), '..data/a');
    assert.equal(await readlink(join(dir, 'sub')), '..data/sub');
    assert.equal(await readFile(join(dir, 'a'), 'utf8'), '1');
    assert.equal(await readFile(join(dir, 'sub', 'b'), 'utf8'), '2');
    assert.equal((await stat(join(dir, 'sub', 'b'))).mode & 0o777, 0o400);
    assert.equal((await stat(join(dir, 'a'))).mode & 0o777, 0o644);
  });

  it('swaps versions atomically: an old reader keeps a complete old version, removed keys disappear', async () => {
    await writePayloadAtomically(
      dir,
      new Map([
        ['a', file('old-a')],
        ['b', file('old-b')],
      ]),
      t0,
    );
    const oldTs = await readlink(join(dir, '..data'));
    // A reader that resolved ..data before the update.
    const held = await readFile(join(dir, oldTs, 'b'), 'utf8');
    await writePayloadAtomically(dir, new Map([['a', file('new-a')]]), t0 + 61_000);
    const newTs = await readlink(join(dir, '..data'));
    assert.notEqual(newTs, oldTs);
    assert.equal(held, 'old-b');
    assert.equal(await readFile(join(dir, 'a'), 'utf8'), 'new-a');
    await assert.rejects(stat(join(dir, 'b')), { code: 'ENOENT' });
    await assert.rejects(stat(join(dir, oldTs)), { code: 'ENOENT' }, 'the old version is removed');
    assert.deepEqual((await readdir(dir)).sort(), ['..data', newTs, 'a'].sort());
  });

  it('writes nothing when bytes and modes are unchanged, but does for a mode change', async () => {
    const payload = new Map([['a', file('x')]]);
    await writePayloadAtomically(dir, payload, t0);
    const ts = await readlink(join(dir, '..data'));
    assert.equal(await writePayloadAtomically(dir, new Map([['a', file('x')]]), t0 + 1000), false);
    assert.equal(await readlink(join(dir, '..data')), ts);
    assert.equal(await writePayloadAtomically(dir, new Map([['a', file('x', 0o600)]]), t0 + 2000), true);
    assert.equal((await stat(join(dir, 'a'))).mode & 0o777, 0o600);
    assert.deepEqual(await readPublished(dir), new Map([['a', { data: Buffer.from('x'), mode: 0o600 }]]));
  });

  it('publishes an empty payload as an empty volume', async () => {
    await writePayloadAtomically(dir, new Map([['a', file('x')]]), t0);
    await writePayloadAtomically(dir, new Map(), t0 + 1000);
    const entries = await readdir(dir);
    assert.equal(
      entries.filter((e) => !e.startsWith('..')).length,
      0,
      `only ..data and its dir remain: ${entries.join(' ')}`,
    );
  });

  it('refuses paths that escape or collide with its own entries, before touching the directory', async () => {
    for (const bad of ['../x', '/etc/passwd', 'a/../../x', '..data', '..2026', '', 'a//b']) {
      assert.notEqual(invalidPayloadPath(bad), undefined, bad);
      await assert.rejects(writePayloadAtomically(dir, new Map([[bad, file('x')]]), t0), /invalid path/);
    }
    assert.deepEqual(await readdir(dir), []);
    assert.equal(invalidPayloadPath('a/b.c'), undefined);
    assert.equal(invalidPayloadPath('.hidden'), undefined);
  });
});
