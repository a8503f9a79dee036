import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredObject } from '../../../api/object.js';
import { FakeClock } from '../../../lib/clock.js';
import type { CommandRunner } from '../../../lib/command-runner.js';
import { silentLogger } from '../../../lib/logger.js';
import { FakeObjectSource } from '../../object-source.js';
import { parsePod, type PodView } from '../pod-spec.js';
import {
  resolveSubPath,
  VolumeManager,
  type VolumeManagerOptions,
  type VolumeSetUpResult,
} from './volume-manager.js';

/** A scripted mount/umount that keeps its own mount table (mountinfo format). */
class ScriptedMounts {
  readonly calls: string[][] = [];
  readonly points = new Set<string>();
  failUmount = false;
  readonly runner: CommandRunner = {
    run: (file, args) => {
      this.calls.push([file, ...args]);
      const target = args[args.length - 1] ?? '';
      if (file === 'mount') this.points.add(target);
      if (file === 'umount') {
        if (this.failUmount) return Promise.resolve({ code: 32, stdout: '', stderr: 'target is busy' });
        this.points.delete(target);
      }
      return Promise.resolve({ code: 0, stdout: '', stderr: '' });
    },
  };
  readonly table = (): Promise<string> =>
    Promise.resolve(
      [...this.points]
        .map((p, i) => `${100 + i} 1 0:5${i} / ${p.replace(/ /g, '\\040')} rw - tmpfs tmpfs rw`)
        .join('\n'),
    );
}

function podView(spec: Record<string, unknown>, meta: Record<string, unknown> = {}): PodView {
  const obj: StoredObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', uid: 'uid-1', labels: { app: 'web', tier: 'fe' }, ...meta },
    spec: { containers: [{ name: 'app', image: 'busybox' }], ...spec },
  };
  const v = parsePod(obj);
  assert.ok(v);
  return v;
}

function ok(res: VolumeSetUpResult): Extract<VolumeSetUpResult, { ok: true }> {
  assert.ok(res.ok, res.ok ? '' : `${res.volume}: ${res.message}`);
  return res;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o7777;

describe('VolumeManager', () => {
  let root: string;
  let clock: FakeClock;
  let objects: FakeObjectSource;
  let mounts: ScriptedMounts;

  const manager = (extra: Partial<VolumeManagerOptions> = {}): VolumeManager =>
    new VolumeManager({
      rootDir: join(root, 'pods'),
      objects,
      clock,
      logger: silentLogger(),
      runner: mounts.runner,
      mountTable: mounts.table,
      canMount: false,
      refreshIntervalMs: 60_000,
      ...extra,
    });

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-volumes-'));
    clock = new FakeClock();
    objects = new FakeObjectSource();
    mounts = new ScriptedMounts();
    objects.set({
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'shop' },
      data: { 'app.conf': 'port=80', other: 'o' },
      binaryData: { 'blob.bin': Buffer.from([0, 1, 2]).toString('base64') },
    });
    objects.set({
      kind: 'Secret',
      metadata: { name: 'creds', namespace: 'shop' },
      data: { password: b64('hunter2') },
    });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('publishes a configMap with every key, defaultMode, and read-only', async () => {
    const vm = manager();
    const res = ok(
      await vm.setUp(podView({ volumes: [{ name: 'c', configMap: { name: 'cfg', defaultMode: 0o440 } }] })),
    );
    const v = res.volumes.get('c');
    assert.deepEqual(v, {
      hostPath: join(root, 'pods', 'uid-1', 'volumes', 'kubernetes.io~configmap', 'c'),
      readOnly: true,
    });
    assert.ok(v);
    assert.equal(await readFile(join(v.hostPath, 'app.conf'), 'utf8'), 'port=80');
    assert.deepEqual([...(await readFile(join(v.hostPath, 'blob.bin')))], [0, 1, 2]);
    assert.equal(await mode(join(v.hostPath, 'other')), 0o440);
    assert.equal(await readlink(join(v.hostPath, 'app.conf')), '..data/app.conf');
  });

  it('maps items to paths with per-item modes, and only those', async () => {
    const vm = manager();
    const res = ok(
      await vm.setUp(
        podView({
          volumes: [
            {
              name: 'c',
              configMap: { name: 'cfg', items: [{ key: 'app.conf', path: 'conf/main.conf', mode: 0o600 }] },
            },
          ],
        }),
      ),
    );
    const dir = res.volumes.get('c')?.hostPath ?? '';
    assert.equal(await readFile(join(dir, 'conf', 'main.conf'), 'utf8'), 'port=80');
    assert.equal(await mode(join(dir, 'conf', 'main.conf')), 0o600);
    await assert.rejects(stat(join(dir, 'other')), { code: 'ENOENT' });
  });

  it("fails a missing object or key with the kubelet's message unless optional", async () => {
    const vm = manager();
    const missing = await vm.setUp(podView({ volumes: [{ name: 'c', configMap: { name: 'nope' } }] }));
    assert.deepEqual(missing, { ok: false, volume: 'c', message: 'configmap "nope" not found' });
    const secret = await vm.setUp(
      podView({ volumes: [{ name: 's', secret: { secretName: 'nope' } }] }, { uid: 'uid-2' }),
    );
    assert.deepEqual(secret, { ok: false, volume: 's', message: 'secret "nope" not found' });
    const key = await vm.setUp(
      podView(
        { volumes: [{ name: 'c', configMap: { name: 'cfg', items: [{ key: 'k', path: 'k' }] } }] },
        { uid: 'uid-3' },
      ),
    );
    assert.deepEqual(key, {
      ok: false,
      volume: 'c',
      message: 'configmap references non-existent config key: k',
    });

    const optional = ok(
      await vm.setUp(
        podView(
          {
            volumes: [
              { name: 'gone', configMap: { name: 'nope', optional: true } },
              {
                name: 'part',
                configMap: {
                  name: 'cfg',
                  optional: true,
                  items: [
                    { key: 'k', path: 'k' },
                    { key: 'other', path: 'o' },
                  ],
                },
              },
            ],
          },
          { uid: 'uid-4' },
        ),
      ),
    );
    const part = optional.volumes.get('part')?.hostPath ?? '';
    assert.equal(await readFile(join(part, 'o'), 'utf8'), 'o');
    await assert.rejects(stat(join(part, 'k')), { code: 'ENOENT' });
    assert.ok(optional.volumes.has('gone'), 'an optional missing object is an empty volume');
  });

  it('writes secrets decoded into a 0700 directory when it cannot mount tmpfs', async () => {
    const vm = manager();
    const res = ok(await vm.setUp(podView({ volumes: [{ name: 's', secret: { secretName: 'creds' } }] })));
    const dir = res.volumes.get('s')?.hostPath ?? '';
    assert.equal(await readFile(join(dir, 'password'), 'utf8'), 'hunter2');
    assert.equal(await mode(dir), 0o700);
    assert.equal(await mode(join(dir, 'password')), 0o644);
    assert.deepEqual(mounts.calls, []);
  });

  it('puts secrets and memory emptyDirs on tmpfs when root, and tearDown unmounts before removing', async () => {
    const vm = manager({ canMount: true });
    const pod = podView({
      containers: [{ name: 'app', image: 'x', resources: { limits: { memory: '64Mi' } } }],
      volumes: [
        { name: 's', secret: { secretName: 'creds' } },
        { name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
        { name: 'd', emptyDir: {} },
      ],
    });
    const res = ok(await vm.setUp(pod));
    const sDir = res.volumes.get('s')?.hostPath ?? '';
    const mDir = res.volumes.get('m')?.hostPath ?? '';
    assert.deepEqual(mounts.calls, [
      ['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', sDir],
      ['mount', '-t', 'tmpfs', '-o', `mode=0777,size=${64 * 1024 * 1024}`, 'tmpfs', mDir],
    ]);
    assert.equal(await mode(res.volumes.get('d')?.hostPath ?? ''), 0o777);
    assert.equal(res.volumes.get('d')?.readOnly, false);
    ok(await vm.setUp(pod));
    assert.equal(mounts.calls.length, 2, 'already mounted: not mounted again');

    // A busy mount: nothing is removed.
    mounts.failUmount = true;
    await assert.rejects(vm.tearDown('uid-1'), /still mounted/);
    assert.equal(await readFile(join(sDir, 'password'), 'utf8'), 'hunter2');

    // After an agent restart a new manager finds the mounts in the table.
    mounts.failUmount = false;
    const before = mounts.calls.length;
    await manager({ canMount: true }).tearDown('uid-1');
    assert.deepEqual(
      mounts.calls
        .slice(before)
        .map((c) => c.join(' '))
        .sort(),
      [`umount ${mDir}`, `umount ${sDir}`].sort(),
    );
    assert.equal(mounts.points.size, 0);
    await assert.rejects(stat(join(root, 'pods', 'uid-1')), { code: 'ENOENT' });
    await manager().tearDown('uid-1'); // idempotent
  });

  it('writes the downward API and rewrites it when labels change', async () => {
    const vm = manager();
    const spec = {
      containers: [{ name: 'app', image: 'x', resources: { limits: { cpu: '1500m', memory: '128Mi' } } }],
      volumes: [
        {
          name: 'info',
          downwardAPI: {
            items: [
              { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
              { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
              { path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } },
              { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } },
              { path: 'tier', fieldRef: { fieldPath: "metadata.labels['tier']" } },
              { path: 'cpu', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu' } },
              {
                path: 'mem',
                resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' },
              },
            ],
          },
        },
      ],
    };
    const dir = ok(await vm.setUp(podView(spec))).volumes.get('info')?.hostPath ?? '';
    const read = (f: string): Promise<string> => readFile(join(dir, f), 'utf8');
    assert.equal(await read('labels'), 'app="web"\ntier="fe"');
    assert.deepEqual(
      [
        await read('name'),
        await read('ns'),
        await read('uid'),
        await read('tier'),
        await read('cpu'),
        await read('mem'),
      ],
      ['web', 'shop', 'uid-1', 'fe', '2', '128'],
    );
    ok(await vm.setUp(podView(spec, { labels: { app: 'web', tier: 'be "x"' } })));
    assert.equal(await read('labels'), 'app="web"\ntier="be \\"x\\""');
  });

  it('re-reads objects only after the refresh interval, then updates the files atomically', async () => {
    const vm = manager();
    const pod = podView({ volumes: [{ name: 'c', configMap: { name: 'cfg' } }] });
    const dir = ok(await vm.setUp(pod)).volumes.get('c')?.hostPath ?? '';
    assert.equal(objects.calls.length, 1);
    assert.equal(vm.nextRefreshAt(pod), clock.now() + 60_000);
    objects.set({
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'shop' },
      data: { 'app.conf': 'port=81' },
    });
    await clock.advance(30_000);
    ok(await vm.setUp(pod));
    assert.equal(objects.calls.length, 1, 'within the interval: no read');
    assert.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'port=80');
    await clock.advance(30_000);
    ok(await vm.setUp(pod));
    assert.equal(objects.calls.length, 2);
    assert.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'port=81');
    await assert.rejects(stat(join(dir, 'other')), { code: 'ENOENT' });
    // refresh() reads now, whatever the interval says.
    objects.set({
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'shop' },
      data: { 'app.conf': 'port=82' },
    });
    ok(await vm.refresh(pod));
    assert.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'port=82');
  });

  it('keeps the published content when a refresh fails, and reports it', async () => {
    const vm = manager();
    const pod = podView({ volumes: [{ name: 'c', configMap: { name: 'cfg' } }] });
    const dir = ok(await vm.setUp(pod)).volumes.get('c')?.hostPath ?? '';
    objects.failWith = 'controller unreachable';
    const res = ok(await vm.refresh(pod));
    assert.equal(res.problems.length, 1);
    assert.match(res.problems[0]?.message ?? '', /controller unreachable/);
    assert.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'port=80');
    objects.failWith = undefined;
    objects.delete('ConfigMap', 'shop', 'cfg');
    const gone = ok(await vm.refresh(pod));
    assert.deepEqual(gone.problems, [{ volume: 'c', message: 'configmap "cfg" not found' }]);
    assert.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'port=80');
  });

  it('checks hostPath types the way the kubelet does', async () => {
    const vm = manager();
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await mkdir(join(root, 'a-dir'));
    let n = 0;
    // A pod's volumes never change, so each check is a new pod.
    const one = async (path: string, type?: string): Promise<VolumeSetUpResult> =>
      vm.setUp(
        podView(
          { volumes: [{ name: 'h', hostPath: { path, ...(type === undefined ? {} : { type }) } }] },
          { uid: `hp-${++n}` },
        ),
      );
    assert.deepEqual(ok(await one(join(root, 'a-dir'), 'Directory')).volumes.get('h'), {
      hostPath: join(root, 'a-dir'),
      readOnly: false,
    });
    assert.deepEqual(await one(join(root, 'none'), 'Directory'), {
      ok: false,
      volume: 'h',
      message: `hostPath type check failed: ${join(root, 'none')} is not a directory`,
    });
    assert.match(await one(file, 'Directory').then((r) => (r.ok ? '' : r.message)), /is not a directory/);
    ok(await one(join(root, 'made', 'deep'), 'DirectoryOrCreate'));
    assert.ok((await stat(join(root, 'made', 'deep'))).isDirectory());
    ok(await one(join(root, 'new-file'), 'FileOrCreate'));
    assert.ok((await stat(join(root, 'new-file'))).isFile());
    assert.match(
      await one(join(root, 'a-dir'), 'File').then((r) => (r.ok ? '' : r.message)),
      /is not a file/,
    );
    assert.match(await one(file, 'Socket').then((r) => (r.ok ? '' : r.message)), /is not a socket file/);
    assert.match(
      await one(file, 'CharDevice').then((r) => (r.ok ? '' : r.message)),
      /is not a character device/,
    );
    ok(await one('/dev/null', 'CharDevice'));
    ok(await one(join(root, 'unchecked')));
    assert.match(await one(file, 'Bogus').then((r) => (r.ok ? '' : r.message)), /invalid hostPath type/);
  });

  it('fails volume types it does not support and objects it cannot read', async () => {
    const vm = manager();
    const pvc = await vm.setUp(
      podView({ volumes: [{ name: 'p', persistentVolumeClaim: { claimName: 'x' } }] }),
    );
    assert.deepEqual(pvc, {
      ok: false,
      volume: 'p',
      message: 'unsupported volume type "persistentVolumeClaim"',
    });
    const none = new VolumeManager({
      rootDir: join(root, 'pods'),
      clock,
      logger: silentLogger(),
      canMount: false,
    });
    const res = await none.setUp(
      podView({ volumes: [{ name: 'c', configMap: { name: 'cfg' } }] }, { uid: 'uid-9' }),
    );
    assert.deepEqual(res, {
      ok: false,
      volume: 'c',
      message: 'cannot read configmap "cfg": this node has no object source',
    });
  });

  it('projects configMap, secret and downward API sources into one volume', async () => {
    const vm = manager();
    const res = ok(
      await vm.setUp(
        podView({
          volumes: [
            {
              name: 'all',
              projected: {
                defaultMode: 0o400,
                sources: [
                  { configMap: { name: 'cfg', items: [{ key: 'other', path: 'cfg/other' }] } },
                  { secret: { name: 'creds' } },
                  { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
                ],
              },
            },
          ],
        }),
      ),
    );
    const dir = res.volumes.get('all')?.hostPath ?? '';
    assert.equal(await readFile(join(dir, 'cfg', 'other'), 'utf8'), 'o');
    assert.equal(await readFile(join(dir, 'password'), 'utf8'), 'hunter2');
    assert.equal(await readFile(join(dir, 'name'), 'utf8'), 'web');
    assert.equal(await mode(join(dir, 'name')), 0o400);
  });
});

describe('VolumeManager on real tmpfs (root only)', () => {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) console.log('# skipping real tmpfs tests: not running as root');

  it(
    'mounts a sized tmpfs for a memory emptyDir and a secret, and unmounts both on tearDown',
    { skip: !isRoot },
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'berth-volumes-tmpfs-'));
      const objects = new FakeObjectSource();
      objects.set({
        kind: 'Secret',
        metadata: { name: 'creds', namespace: 'shop' },
        data: { password: b64('hunter2') },
      });
      const vm = new VolumeManager({
        rootDir: join(root, 'pods'),
        objects,
        clock: new FakeClock(),
        logger: silentLogger(),
        canMount: true,
      });
      const mountsOf = async (): Promise<string[]> =>
        (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(root));
      try {
        const res = ok(
          await vm.setUp(
            podView({
              volumes: [
                { name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } },
                { name: 's', secret: { secretName: 'creds' } },
              ],
            }),
          ),
        );
        const lines = await mountsOf();
        assert.equal(lines.length, 2, lines.join('\n'));
        const mLine = lines.find((l) => l.includes(res.volumes.get('m')?.hostPath ?? '\0')) ?? '';
        assert.match(mLine, / - tmpfs tmpfs .*size=8192k/);
        assert.match(mLine, /mode=777/);
        assert.equal(
          await readFile(join(res.volumes.get('s')?.hostPath ?? '', 'password'), 'utf8'),
          'hunter2',
        );
        await vm.tearDown('uid-1');
        assert.deepEqual(await mountsOf(), []);
        await assert.rejects(stat(join(root, 'pods', 'uid-1')), { code: 'ENOENT' });
      } finally {
        // Whatever happened above, leave no mount behind.
        for (const line of (await mountsOf()).reverse()) {
          const point = line.split(' ')[4];
          if (point !== undefined) await new Promise((r) => execFile('umount', [point], r));
        }
        await rm(root, { recursive: true, force: true });
      }
    },
  );
});

describe('resolveSubPath', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-subpath-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('resolves inside the volume, creating missing directories in writable volumes', async () => {
    const vol = join(root, 'vol');
    await mkdir(vol);
    const made = await resolveSubPath({ hostPath: vol, readOnly: false }, 'a/./b');
    assert.deepEqual(made, { ok: true, hostPath: join(await realpath(vol), 'a', 'b') });
    assert.ok((await stat(join(vol, 'a', 'b'))).isDirectory());
    assert.deepEqual(await resolveSubPath({ hostPath: vol, readOnly: true }, 'missing'), {
      ok: false,
      message: 'subPath "missing" does not exist in its volume',
    });
  });

  it('refuses subPaths that escape lexically or through a planted symlink', async () => {
    const vol = join(root, 'vol');
    await mkdir(vol);
    await symlink('/etc', join(vol, 'evil'));
    await symlink('../..', join(vol, 'up'));
    for (const sub of ['evil', 'evil/passwd', 'up', 'up/x/y']) {
      const res = await resolveSubPath({ hostPath: vol, readOnly: false }, sub);
      assert.deepEqual(res, { ok: false, message: `subPath "${sub}" resolves outside its volume` }, sub);
    }
    assert.equal((await resolveSubPath({ hostPath: vol, readOnly: false }, '../x')).ok, false);
    assert.equal((await resolveSubPath({ hostPath: vol, readOnly: false }, '/etc')).ok, false);
    await assert.rejects(stat(join(root, 'x')), { code: 'ENOENT' }, 'nothing created outside');
  });

  it('follows the atomic writer links of configMap volumes to the current file', async () => {
    const objects = new FakeObjectSource();
    objects.set({ kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'shop' }, data: { 'a.conf': 'x' } });
    const vm = new VolumeManager({
      rootDir: root,
      objects,
      clock: new FakeClock(),
      logger: silentLogger(),
      canMount: false,
    });
    const res = ok(await vm.setUp(podView({ volumes: [{ name: 'c', configMap: { name: 'cfg' } }] })));
    const vol = res.volumes.get('c');
    assert.ok(vol);
    const sp = await resolveSubPath(vol, 'a.conf');
    assert.ok(sp.ok);
    assert.match(sp.hostPath, /\/\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.[0-9a-f]+\/a\.conf$/);
    assert.equal(await readFile(sp.hostPath, 'utf8'), 'x');
  });
});
