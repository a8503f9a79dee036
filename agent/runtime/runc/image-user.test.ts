import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseGroup, parsePasswd, readFileInRoot, resolveImageUser } from './image-user.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'broken:x:notanumber:1',
  'nohome:x:1001:1002::',
].join('\n');
const group = [
  'root:x:0:',
  'daemon:x:1:app',
  'app:x:1000:',
  'wheel:x:10:root,app',
  'staff:x:50:other',
  'odd:x:1002:',
].join('\n');

describe('parsePasswd / parseGroup', () => {
  it('reads entries and skips comments and malformed lines', () => {
    assert.deepEqual(
      parsePasswd(passwd).map((e) => e.name),
      ['root', 'daemon', 'app', 'nohome'],
    );
    assert.deepEqual(parseGroup(group).find((g) => g.name === 'wheel')?.members, ['root', 'app']);
  });
});

describe('resolveImageUser', () => {
  let root: string;
  let outside: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'berth-imguser-'));
    outside = await mkdtemp(path.join(os.tmpdir(), 'berth-imguser-host-'));
    await mkdir(path.join(root, 'etc'));
    // What a hostile image would like us to read instead of its own files.
    await writeFile(
      path.join(outside, 'shadow'),
      'root:x:0:0:HOST-SECRET:/host:/bin/sh\nhostonly:x:4242:4242::/h:/bin/sh\n',
    );
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });
  const withFiles = async (): Promise<void> => {
    await writeFile(path.join(root, 'etc/passwd'), passwd);
    await writeFile(path.join(root, 'etc/group'), group);
  };

  it('defaults to root 0:0 with home from passwd', async () => {
    await withFiles();
    assert.deepEqual(await resolveImageUser(root, {}), {
      ok: true,
      user: { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' },
    });
  });

  it('is root without any passwd file (scratch image)', async () => {
    assert.deepEqual(await resolveImageUser(root, {}), {
      ok: true,
      user: { uid: 0, gid: 0, additionalGids: [0] },
    });
  });

  it('numeric uid: gid and home from passwd when present, gid 0 otherwise', async () => {
    await withFiles();
    assert.deepEqual(await resolveImageUser(root, { imageUser: '1000' }), {
      ok: true,
      user: { uid: 1000, gid: 1000, additionalGids: [1000, 1, 10], home: '/home/app' },
    });
    assert.deepEqual(await resolveImageUser(root, { imageUser: '4242' }), {
      ok: true,
      user: { uid: 4242, gid: 0, additionalGids: [0] },
    });
  });

  it('uid:gid and name:group', async () => {
    await withFiles();
    const a = await resolveImageUser(root, { imageUser: '1000:50' });
    assert.ok(a.ok);
    assert.equal(a.user.gid, 50);
    assert.deepEqual(a.user.additionalGids, [50, 1, 10]);
    const b = await resolveImageUser(root, { imageUser: 'app:staff' });
    assert.ok(b.ok);
    assert.deepEqual([b.user.uid, b.user.gid], [1000, 50]);
    const c = await resolveImageUser(root, { imageUser: 'daemon' });
    assert.ok(c.ok);
    assert.deepEqual([c.user.uid, c.user.gid, c.user.home], [1, 1, '/usr/sbin']);
  });

  it('an unknown user or group name is a clear error', async () => {
    await withFiles();
    assert.deepEqual(await resolveImageUser(root, { imageUser: 'nobody' }), {
      ok: false,
      message: 'unable to find user nobody: no matching entries in passwd file',
    });
    assert.deepEqual(await resolveImageUser(root, { imageUser: 'app:nogroup' }), {
      ok: false,
      message: 'unable to find group nogroup: no matching entries in group file',
    });
    const scratch = await resolveImageUser(outside, { imageUser: 'app' });
    assert.equal(scratch.ok, false);
  });

  it('runAsUser overrides the image user and drops its group; runAsGroup overrides the group', async () => {
    await withFiles();
    const a = await resolveImageUser(root, { imageUser: 'app:staff', runAsUser: 1001 });
    assert.deepEqual(a, { ok: true, user: { uid: 1001, gid: 1002, additionalGids: [1002] } });
    const b = await resolveImageUser(root, { imageUser: 'nobody', runAsUser: 5, runAsGroup: 6 });
    assert.deepEqual(b, { ok: true, user: { uid: 5, gid: 6, additionalGids: [6] } });
    const c = await resolveImageUser(root, { imageUser: 'app', runAsGroup: 0 });
    assert.ok(c.ok);
    assert.deepEqual([c.user.uid, c.user.gid], [1000, 0]);
    const d = await resolveImageUser(root, { runAsUsername: 'daemon' });
    assert.ok(d.ok);
    assert.equal(d.user.uid, 1);
    assert.equal((await resolveImageUser(root, { runAsUser: -1 })).ok, false);
  });

  it('adds supplementalGroups after the primary and member groups, without duplicates', async () => {
    await withFiles();
    const r = await resolveImageUser(root, { imageUser: 'app', supplementalGroups: [10, 2000, 2000] });
    assert.ok(r.ok);
    assert.deepEqual(r.user.additionalGids, [1000, 1, 10, 2000]);
  });

  it('an absolute symlink to a host file resolves inside the rootfs, never to the host', async () => {
    // /etc/passwd -> <host>/shadow: inside the rootfs that path does not exist.
    await symlink(path.join(outside, 'shadow'), path.join(root, 'etc/passwd'));
    const r = await resolveImageUser(root, { imageUser: 'hostonly' });
    assert.equal(r.ok, false);
    const rootUser = await resolveImageUser(root, {});
    assert.ok(rootUser.ok);
    assert.equal(rootUser.user.home, undefined, 'the host file was not read');
  });

  it('relative ../ symlinks stop at the rootfs', async () => {
    const depth = path.relative('/', outside).split('/').length + path.relative('/', root).split('/').length;
    await symlink(`${'../'.repeat(depth)}${outside.slice(1)}/shadow`, path.join(root, 'etc/passwd'));
    const r = await resolveImageUser(root, { imageUser: 'hostonly' });
    assert.equal(r.ok, false);
    // The same chain inside the rootfs does resolve.
    await mkdir(path.join(root, outside), { recursive: true });
    await writeFile(path.join(root, outside, 'shadow'), 'hostonly:x:7:8::/in:/bin/sh\n');
    const inside = await resolveImageUser(root, { imageUser: 'hostonly' });
    assert.deepEqual(inside, { ok: true, user: { uid: 7, gid: 8, additionalGids: [8], home: '/in' } });
  });

  it('a symlinked /etc directory is followed within the rootfs', async () => {
    await rm(path.join(root, 'etc'), { recursive: true });
    await mkdir(path.join(root, 'real-etc'));
    await writeFile(path.join(root, 'real-etc/passwd'), passwd);
    await symlink('/real-etc', path.join(root, 'etc'));
    const r = await resolveImageUser(root, { imageUser: 'app' });
    assert.ok(r.ok);
    assert.equal(r.user.uid, 1000);
  });

  it('refuses a FIFO or directory at /etc/passwd without hanging, and survives a symlink loop', async () => {
    execFileSync('mkfifo', [path.join(root, 'etc/passwd')]);
    const fifo = await resolveImageUser(root, {});
    assert.ok(!fifo.ok);
    assert.match(fifo.message, /not a regular file/);
    await rm(path.join(root, 'etc/passwd'));
    await mkdir(path.join(root, 'etc/passwd'));
    assert.equal((await resolveImageUser(root, {})).ok, false);
    await rm(path.join(root, 'etc/passwd'), { recursive: true });
    await symlink('/etc/loop', path.join(root, 'etc/passwd'));
    await symlink('/etc/passwd', path.join(root, 'etc/loop'));
    assert.deepEqual(await resolveImageUser(root, {}), {
      ok: true,
      user: { uid: 0, gid: 0, additionalGids: [0] },
    });
  });

  it('readFileInRoot reports missing paths and reads through in-root links', async () => {
    assert.deepEqual(await readFileInRoot(root, '/etc/nothing'), { kind: 'missing' });
    assert.deepEqual(await readFileInRoot(root, '/etc/passwd/x'), { kind: 'missing' });
    await writeFile(path.join(root, 'etc/real'), 'hello');
    await symlink('real', path.join(root, 'etc/rel'));
    assert.deepEqual(await readFileInRoot(root, '/etc/../../etc/./rel'), { kind: 'ok', text: 'hello' });
  });
});
