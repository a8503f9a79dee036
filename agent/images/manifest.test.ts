import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  mediaTypes,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectPlatformManifest,
  type ImageIndex,
} from './manifest.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

const manifest = {
  schemaVersion: 2,
  mediaType: mediaTypes.ociManifest,
  config: { mediaType: mediaTypes.ociConfig, digest: d('c'), size: 10 },
  layers: [{ mediaType: mediaTypes.ociLayerGzip, digest: d('1'), size: 100 }],
};

describe('parseManifest', () => {
  it('parses an OCI manifest', () => {
    const r = parseManifest(enc(manifest), mediaTypes.ociManifest);
    assert.ok(r.ok);
    assert.equal(r.value.kind, 'manifest');
  });

  it('parses a Docker manifest list by Content-Type when the body has no mediaType', () => {
    const r = parseManifest(
      enc({ schemaVersion: 2, manifests: [] }),
      `${mediaTypes.dockerList}; charset=utf-8`,
    );
    assert.ok(r.ok);
    assert.equal(r.value.kind, 'index');
    assert.equal(r.value.mediaType, mediaTypes.dockerList);
  });

  it('refuses a document with both manifests and layers (CVE-2021-41190)', () => {
    const r = parseManifest(enc({ ...manifest, manifests: [] }), mediaTypes.ociIndex);
    assert.equal(r.ok, false);
    assert.match(r.message, /ambiguous/);
  });

  it('refuses a body mediaType that contradicts Content-Type', () => {
    const r = parseManifest(enc(manifest), mediaTypes.ociIndex);
    assert.equal(r.ok, false);
    assert.match(r.message, /mismatched media type/);
  });

  it('refuses schema 1 with advice', () => {
    const r = parseManifest(enc({ schemaVersion: 1, fsLayers: [] }), mediaTypes.dockerSchema1Signed);
    assert.equal(r.ok, false);
    assert.match(r.message, /schema 1/);
  });

  it('refuses bad descriptors', () => {
    const bad = {
      ...manifest,
      layers: [{ mediaType: mediaTypes.ociLayerGzip, digest: 'sha256:../../x', size: 1 }],
    };
    assert.equal(parseManifest(enc(bad), mediaTypes.ociManifest).ok, false);
    const neg = { ...manifest, layers: [{ mediaType: mediaTypes.ociLayerGzip, digest: d('1'), size: -1 }] };
    assert.equal(parseManifest(enc(neg), mediaTypes.ociManifest).ok, false);
  });

  it('refuses over-large documents and non-JSON', () => {
    assert.equal(parseManifest(new Uint8Array(4 * 1024 * 1024 + 1), undefined).ok, false);
    assert.equal(parseManifest(Buffer.from('nope'), undefined).ok, false);
  });
});

describe('parseImageConfig', () => {
  it('reads diff_ids and the runtime config', () => {
    const r = parseImageConfig(
      enc({
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: '/w', ExposedPorts: { '80/tcp': {} } },
        rootfs: { type: 'layers', diff_ids: [d('a')] },
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.value.diffIds, [d('a')]);
    assert.deepEqual(r.value.cmd, ['/bin/sh']);
    assert.deepEqual(r.value.exposedPorts, ['80/tcp']);
  });

  it('refuses NUL in Env and a config without layers', () => {
    assert.equal(
      parseImageConfig(enc({ config: { Env: ['A=\0'] }, rootfs: { type: 'layers', diff_ids: [] } })).ok,
      false,
    );
    assert.equal(parseImageConfig(enc({ config: {} })).ok, false);
  });
});

describe('platform selection', () => {
  const entry = (platform: { os: string; architecture: string; variant?: string }, c: string) => ({
    mediaType: mediaTypes.ociManifest,
    digest: d(c),
    size: 1,
    platform,
  });
  const index: ImageIndex = {
    kind: 'index',
    mediaType: mediaTypes.ociIndex,
    manifests: [
      entry({ os: 'unknown', architecture: 'unknown' }, '0'),
      entry({ os: 'linux', architecture: 'arm', variant: 'v6' }, '1'),
      entry({ os: 'linux', architecture: 'arm64', variant: 'v8' }, '2'),
      entry({ os: 'linux', architecture: 'amd64' }, '3'),
      entry({ os: 'linux', architecture: 'arm', variant: 'v7' }, '4'),
    ],
  };
  const pick = (p: string): string | undefined => selectPlatformManifest(index, parsePlatform(p)!)?.digest;

  it('picks exact matches', () => {
    assert.equal(pick('linux/amd64'), d('3'));
    assert.equal(pick('linux/arm64'), d('2'));
    assert.equal(pick('linux/arm/v7'), d('4'));
  });

  it('falls back to older ARM variants, never to other architectures', () => {
    assert.equal(pick('linux/arm/v8'), d('4'));
    assert.equal(pick('linux/s390x'), undefined);
    assert.equal(pick('windows/amd64'), undefined);
  });
});
