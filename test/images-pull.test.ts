/**
 * The image service against a real docker-registry (anonymous, plain HTTP on loopback): OCI and
 * Docker-format images, a multi-platform index, the three-layer whiteout image unpacked to the exact
 * expected tree (through a real overlayfs mount), de-duplicated concurrent pulls, progress events,
 * rootfs leases, remove/prune, and import/export round trips.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { PullProgress } from '../agent/images/image-service.js';
import {
  busyboxAvailable,
  busyboxEntries,
  makeImage,
  makeLayer,
  makeTar,
  pushImage,
  pushIndex,
  whiteoutImageLayers,
} from './harness/images.js';
import {
  openTestImageService,
  overlayAvailable,
  readTree,
  type TestImageService,
} from './harness/image-service.js';
import { registryAvailable, startRegistry, type RegistryHandle } from './harness/registry.js';

const skip = registryAvailable() ?? busyboxAvailable();
if (skip !== undefined) console.log(`# skipping image pull tests: ${skip}`);
const noOverlay = overlayAvailable();

describe('image pulls from a real registry', { skip }, () => {
  /** Undone in reverse order after the suite, whatever failed. */
  const cleanup: (() => Promise<void>)[] = [];
  let reg: RegistryHandle;
  let t: TestImageService;
  let busyboxDigest: string;

  before(async () => {
    reg = await startRegistry({ mode: 'plain' });
    cleanup.push(() => reg.stop());
    const bb = makeImage([makeLayer(await makeTar(busyboxEntries()))], {
      config: { Cmd: ['/bin/sh', '-c', 'echo hi'] },
    });
    busyboxDigest = await pushImage(reg, 'berth/busybox', 'latest', bb);
    const bbDocker = makeImage([makeLayer(await makeTar(busyboxEntries()), { format: 'docker' })], {
      format: 'docker',
    });
    await pushImage(reg, 'berth/busybox-docker', 'v1', bbDocker);
    await pushImage(reg, 'berth/whiteouts', 'latest', makeImage(await whiteoutImageLayers()));
    t = await openTestImageService();
    cleanup.push(() => t.close());
  });

  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('pulls an OCI image and records it', async () => {
    const ref = `${reg.host}/berth/busybox`;
    const r = await t.service.pull(ref);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.image.digest, busyboxDigest);
    assert.deepEqual(r.image.references, [`${ref}:latest`, `${ref}@${busyboxDigest}`]);
    assert.deepEqual(r.image.config.cmd, ['/bin/sh', '-c', 'echo hi']);
    assert.ok(r.image.size > 500_000, `size ${r.image.size}`);
    const st = await t.service.status(`${ref}:latest`);
    assert.equal(st?.digest, busyboxDigest);
    assert.equal((await t.service.status(r.image.configDigest))?.digest, busyboxDigest);
    assert.equal((await t.service.list()).length, 1);
  });

  it('pulls a Docker schema 2 image', async () => {
    const r = await t.service.pull(`${reg.host}/berth/busybox-docker:v1`);
    assert.ok(r.ok, r.ok ? '' : r.message);
    const img = t.service.inspect(`${reg.host}/berth/busybox-docker:v1`);
    assert.equal(img?.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    // Same layer content as the OCI image: the snapshot is shared.
    const oci = t.service.inspect(`${reg.host}/berth/busybox:latest`);
    assert.equal(img.layers[0]?.chainId, oci?.layers[0]?.chainId);
  });

  it('reports NotFound for a missing tag and InvalidReference for junk', async () => {
    const r = await t.service.pull(`${reg.host}/berth/busybox:nope`);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'NotFound');
    assert.match(r.message, /not found/);
    const bad = await t.service.pull('Bad/Ref');
    assert.equal(bad.ok, false);
    assert.equal(bad.reason, 'InvalidReference');
  });

  it('selects the platform from a multi-platform index and records the index digest', async () => {
    const amd = makeImage([makeLayer(await makeTar([{ name: 'arch', content: 'amd64\n' }]))], {
      platform: { os: 'linux', architecture: 'amd64' },
    });
    const arm = makeImage([makeLayer(await makeTar([{ name: 'arch', content: 'arm64\n' }]))], {
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    });
    const indexDigest = await pushIndex(reg, 'berth/multi', 'latest', [arm, amd]);
    const r = await t.service.pull(`${reg.host}/berth/multi`, { platform: 'linux/amd64' });
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.image.digest, indexDigest);
    assert.equal(t.service.inspect(indexDigest)?.manifestDigest, amd.manifest.digest);
    const r2 = await t.service.pull(`${reg.host}/berth/multi`, { platform: 'linux/arm64' });
    assert.ok(r2.ok);
    assert.equal(t.service.inspect(`${reg.host}/berth/multi`)?.manifestDigest, arm.manifest.digest);
    const r3 = await t.service.pull(`${reg.host}/berth/multi`, { platform: 'linux/s390x' });
    assert.equal(r3.ok, false);
    assert.match(r3.message, /no image for platform linux\/s390x.*linux\/arm64\/v8, linux\/amd64/);
  });

  it('unpacks the three-layer whiteout image to the exact expected tree', { skip: noOverlay }, async () => {
    const ref = `${reg.host}/berth/whiteouts`;
    const r = await t.service.pull(ref);
    assert.ok(r.ok, r.ok ? '' : r.message);
    const p = await t.service.prepareRootfs(ref, 'whiteout-test');
    assert.ok(p.ok);
    assert.equal(p.rootfs.lowerDirs.length, 3);
    // The top layer holds overlay whiteouts: a 0/0 char device and an opaque directory.
    const top = p.rootfs.lowerDirs[0] ?? '';
    assert.ok(lstatSync(join(top, 'data/gone.txt')).isCharacterDevice());
    const xattr = spawnSync(
      'getfattr',
      ['-n', 'trusted.overlay.opaque', '--only-values', join(top, 'data/opq')],
      { encoding: 'utf8' },
    );
    assert.equal(xattr.stdout, 'y');
    const mnt = t.mount(p.rootfs);
    const tree = readTree(mnt, (rel) => rel.startsWith('bin/'));
    assert.deepEqual(tree, {
      bin: 'dir 755',
      data: 'dir 755',
      'data/keep.txt': 'file 644 keep\n',
      'data/opq': 'dir 755',
      'data/opq/new': 'file 644 new\n',
      dev: 'dir 755',
      etc: 'dir 755',
      'etc/motd': 'file 644 layer3\n',
      'etc/passwd': 'file 644 root:x:0:0:root:/root:/bin/sh\n',
      proc: 'dir 755',
      tmp: 'dir 1777',
    });
    assert.equal(readFileSync(join(mnt, 'bin/busybox')).length > 500_000, true);
  });

  it('de-duplicates concurrent pulls of one image and reports progress', async () => {
    const layers = [
      makeLayer(await makeTar([{ name: 'a', content: Buffer.alloc(300_000, 1) }])),
      makeLayer(await makeTar([{ name: 'b', content: Buffer.alloc(200_000, 2) }])),
    ];
    await pushImage(reg, 'berth/dedupe', 'v1', makeImage(layers));
    const events: PullProgress[] = [];
    const ref = `${reg.host}/berth/dedupe:v1`;
    const [a, b] = await Promise.all([
      t.service.pull(ref, { onProgress: (p) => events.push(p) }),
      t.service.pull(ref),
    ]);
    assert.ok(a.ok && b.ok);
    assert.equal(a.image.digest, b.image.digest);
    const layerDone = events.filter((e) => e.phase === 'done').map((e) => e.layer);
    assert.deepEqual(new Set(layerDone), new Set(layers.map((l) => l.digest)));
    assert.equal(events[0]?.phase, 'resolving');
    for (const l of layers) {
      const last = events.filter((e) => e.layer === l.digest).at(-1);
      assert.equal(last?.bytesDone, l.size);
      assert.equal(last.bytesTotal, l.size);
    }
    // A second pull finds every layer present.
    const again: PullProgress[] = [];
    assert.ok((await t.service.pull(ref, { onProgress: (p) => again.push(p) })).ok);
    assert.deepEqual(
      again.filter((e) => e.layer !== undefined).map((e) => e.phase),
      ['exists', 'exists'],
    );
  });

  it('gives a container a rootfs lease that protects the image from removal', async () => {
    const ref = `${reg.host}/berth/busybox:latest`;
    const p = await t.service.prepareRootfs(ref, 'c1');
    assert.ok(p.ok);
    assert.match(p.rootfs.mount.options[0] ?? '', /^lowerdir=/);
    const again = await t.service.prepareRootfs(ref, 'c1');
    assert.ok(again.ok);
    assert.deepEqual(again.rootfs, p.rootfs);
    const conflict = await t.service.prepareRootfs(`${reg.host}/berth/whiteouts`, 'c1');
    assert.equal(conflict.ok, false);
    const missing = await t.service.prepareRootfs('nope:1', 'c2');
    assert.equal(missing.ok, false);
    assert.equal(missing.reason, 'ImageNotFound');
    await assert.rejects(t.service.prepareRootfs(ref, '../escape'), /invalid container id/);

    // Removing an image in use only drops its names; its layers stay until the rootfs is released.
    assert.equal(await t.service.remove(`${reg.host}/berth/busybox:latest`), true);
    assert.equal(await t.service.status(`${reg.host}/berth/busybox:latest`), undefined);
    for (const dir of p.rootfs.lowerDirs) assert.ok(lstatSync(dir).isDirectory());
    assert.equal(await t.service.releaseRootfs('c1'), true);
    assert.equal(await t.service.releaseRootfs('c1'), false);
    const pruned = await t.service.prune();
    assert.ok(pruned.removed.some((i) => i.digest === busyboxDigest));
    // The busybox layer is still used by the Docker-format image, so it stays.
    assert.ok((await t.service.pull(`${reg.host}/berth/busybox-docker:v1`)).ok);
  });

  it('refuses an image with a malicious layer, leaving nothing behind (worker and in-process)', async () => {
    const evil = await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'escape', type: 'symlink', linkname: '/etc' },
      { name: 'escape/evil', content: 'pwned' },
    ]);
    await pushImage(reg, 'berth/evil', 'v1', makeImage([makeLayer(evil)]));
    for (const unpackInWorkers of [true, false]) {
      const s = await openTestImageService({ unpackInWorkers });
      try {
        const r = await s.service.pull(`${reg.host}/berth/evil:v1`);
        assert.equal(r.ok, false);
        assert.equal(r.reason, 'Failed');
        assert.match(r.message, /layer rejected: "escape" is a symlink; refusing to write through it/);
        assert.equal((await s.service.list()).length, 0);
        assert.deepEqual(readdirSync(join(s.root, 'images', 'snapshots')), []);
      } finally {
        await s.close();
      }
    }
  });

  it('unpacks the same tree in-process as on worker threads', { skip: noOverlay }, async () => {
    const s = await openTestImageService({ unpackInWorkers: true });
    const u = await openTestImageService({ unpackInWorkers: false });
    try {
      const ref = `${reg.host}/berth/whiteouts`;
      assert.ok((await s.service.pull(ref)).ok);
      assert.ok((await u.service.pull(ref)).ok);
      const a = await s.service.prepareRootfs(ref, 'on-workers');
      const b = await u.service.prepareRootfs(ref, 'in-process');
      assert.ok(a.ok && b.ok);
      assert.deepEqual(readTree(s.mount(a.rootfs)), readTree(u.mount(b.rootfs)));
    } finally {
      await s.close();
      await u.close();
    }
  });

  it('exports and imports (OCI layout + docker manifest.json), also from skopeo archives', async () => {
    const ref = `${reg.host}/berth/whiteouts:latest`;
    assert.ok((await t.service.pull(ref)).ok);
    const file = join(t.root, 'export.tar');
    await t.service.exportArchive([ref], createWriteStream(file));
    const other = await openTestImageService();
    try {
      const imported = await other.service.importArchive(createReadStream(file));
      assert.equal(imported.length, 1);
      assert.equal(imported[0]?.configDigest, t.service.inspect(ref)?.configDigest);
      assert.ok(imported[0]?.references.includes(ref));
      const p = await other.service.prepareRootfs(ref, 'imported');
      assert.ok(p.ok);
      if (spawnSync('skopeo', ['--version']).status === 0) {
        // skopeo's docker-archive is the legacy `docker save` format (manifest.json + layer tars).
        const da = join(other.root, 'docker.tar');
        const s = spawnSync(
          'skopeo',
          [
            'copy',
            '--src-tls-verify=false',
            `docker://${reg.host}/berth/busybox-docker:v1`,
            `docker-archive:${da}:berth/from-docker:v9`,
          ],
          { encoding: 'utf8' },
        );
        assert.equal(s.status, 0, s.stderr);
        const fromDocker = await other.service.importArchive(createReadStream(da));
        assert.deepEqual(
          fromDocker[0]?.references.filter((r) => !r.includes('@')),
          ['docker.io/berth/from-docker:v9'],
        );
        const oa = join(other.root, 'oci.tar');
        const s2 = spawnSync(
          'skopeo',
          [
            'copy',
            '--src-tls-verify=false',
            `docker://${reg.host}/berth/busybox:latest`,
            `oci-archive:${oa}:v2`,
          ],
          { encoding: 'utf8' },
        );
        assert.equal(s2.status, 0, s2.stderr);
        const fromOci = await other.service.importArchive(createReadStream(oa), {
          baseName: 'example.com/bb',
        });
        assert.ok(fromOci[0]?.references.includes('example.com/bb:v2'));
      }
    } finally {
      await other.close();
    }
  });
});
