import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../lib/clock.js';
import type { CommandRunner } from '../../lib/command-runner.js';
import { sha256Digest } from './digest.js';
import { ImageDb } from './image-db.js';
import { SnapshotStore } from './snapshot-store.js';

describe('SnapshotStore durability across reboots', () => {
  let dir: string;
  let db: ImageDb;
  const syncs: string[][] = [];
  const runner: CommandRunner = {
    run: (file, args) => {
      syncs.push([file, ...args]);
      return Promise.resolve({ code: 0, stdout: '', stderr: '' });
    },
  };
  const clock = new FakeClock();
  const open = async (bootId: string): Promise<SnapshotStore> => {
    const s = new SnapshotStore({ root: join(dir, 'snapshots'), db, clock, runner, bootId });
    await s.init();
    return s;
  };
  const commit = async (s: SnapshotStore, name: string): Promise<string> => {
    const tmp = await s.createTemp();
    writeFileSync(join(tmp, 'f'), name);
    const row = await s.commit(tmp, {
      chainId: sha256Digest(name),
      parent: undefined,
      diffId: sha256Digest(name),
      size: 1,
    });
    return s.dir(row);
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-snapshots-'));
    db = ImageDb.open(join(dir, 'metadata.db'));
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps synced layers and drops unsynced ones after a reboot (new boot id)', async () => {
    const boot1 = await open('boot-1');
    const synced = await commit(boot1, 'synced');
    await boot1.flush();
    assert.deepEqual(syncs.at(-1), ['sync', '-f', join(dir, 'snapshots')]);
    const unsynced = await commit(boot1, 'unsynced');
    assert.ok(existsSync(unsynced));

    // The agent restarts on the same boot: nothing is lost from the page cache, both stay.
    const sameBoot = await open('boot-1');
    assert.ok(sameBoot.get(sha256Digest('unsynced')));

    // After a reboot, the unsynced layer cannot be trusted.
    const boot2 = await open('boot-2');
    assert.ok(boot2.get(sha256Digest('synced')));
    assert.ok(existsSync(synced));
    assert.equal(boot2.get(sha256Digest('unsynced')), undefined);
    assert.equal(existsSync(unsynced), false);
  });

  it('asks for layer directories to be spread over the filesystem (chattr +T), and opens even when refused', async () => {
    const before = syncs.length;
    await open('boot-4');
    assert.deepEqual(syncs.slice(before, before + 1), [['chattr', '+T', join(dir, 'snapshots')]]);
    const refusing: CommandRunner = {
      run: () => Promise.resolve({ code: 1, stdout: '', stderr: 'Operation not supported' }),
    };
    const s = new SnapshotStore({
      root: join(dir, 'snapshots'),
      db,
      clock,
      runner: refusing,
      bootId: 'boot-4',
    });
    await s.init();
    assert.ok(s.get(sha256Digest('synced')));
  });

  it('concurrent flushes share syncs', async () => {
    const s = await open('boot-3');
    await commit(s, 'a');
    const before = syncs.length;
    await Promise.all([s.flush(), s.flush(), s.flush(), s.flush()]);
    assert.ok(syncs.length - before <= 2, `${syncs.length - before} syncs`);
  });
});
