/**
 * Malicious layers against the safe extractor: containerd's `TestBreakouts` cases (symlink, hardlink
 * and whiteout escapes) ported one by one, plus the catalogue's bad inputs 19–26 (absolute and `..`
 * names, PAX overrides, the two-layer symlink pattern of GNU tar CVE-2025-45582, decompression, size
 * and inode bombs, long names, devices, privileged xattrs, name oddities).
 *
 * Each case runs against a canary directory standing for the host (and, where containerd pre-applies
 * content, a lower layer directory): whatever the extractor does — reject the layer or contain it —
 * the canary and the lower layer must be byte-for-byte, inode-for-inode unchanged afterwards. containerd
 * writes names with a leading `/` (which Berth refuses outright), so every case also runs with the
 * names made relative, to exercise the symlink-parent and hard-link checks themselves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isBerthError, errorCodes } from '../lib/errors.js';
import { execCommandRunner } from '../lib/command-runner.js';
import { extractLayer, type ExtractLimits } from '../agent/images/layer-extractor.js';
import { unpackLayer } from '../agent/images/layer-unpacker.js';
import { sha256Digest } from '../agent/images/digest.js';
import { mediaTypes } from '../agent/images/manifest.js';
import { makeTar, type TarEntry } from './harness/images.js';

const isRoot = process.getuid?.() === 0;
const needsRoot = isRoot ? undefined : 'not root: whiteouts need mknod';

/** A fingerprint of every entry under `dir`: type, mode, link count, size, mtime, inode, content hash. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(dir, r);
      const st = lstatSync(p);
      let extra = '';
      if (st.isFile()) extra = createHash('sha256').update(readFileSync(p)).digest('hex');
      else if (st.isSymbolicLink()) extra = readlinkSync(p);
      out[r] = `${st.mode.toString(8)} n${st.nlink} ${st.size} ${st.mtimeMs} i${st.ino} ${extra}`;
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

interface World {
  readonly base: string;
  /** Stands for the host: must never change. */
  readonly canary: string;
  /** An earlier layer (containerd's pre-applied content): must never change. */
  readonly lower: string;
  /** The fresh layer directory. */
  readonly layer: string;
}

let scratch: string;

function makeWorld(lowerEntries: (w: World) => void): World {
  const base = mkdtempSync(join(scratch, 'case-'));
  const w: World = {
    base,
    canary: join(base, 'canary'),
    lower: join(base, 'lower'),
    layer: join(base, 'layer'),
  };
  mkdirSync(join(w.canary, 'etc'), { recursive: true });
  writeFileSync(join(w.canary, 'etc', 'passwd'), 'host passwd\n');
  writeFileSync(join(w.canary, 'etc', 'emptied'), 'notempty');
  writeFileSync(join(w.canary, 'etc', 'whitedout'), 'ahhhh whiteout');
  writeFileSync(join(w.canary, 'perm400'), '...', { mode: 0o400 });
  chmodSync(join(w.canary, 'perm400'), 0o400);
  mkdirSync(join(w.canary, 'dirmode'), { mode: 0o700 });
  chmodSync(join(w.canary, 'dirmode'), 0o700);
  mkdirSync(w.lower);
  mkdirSync(w.layer, { mode: 0o755 });
  lowerEntries(w);
  return w;
}

type Expect = 'reject' | ((w: World) => void);

interface Case {
  readonly name: string;
  /** Entries of the malicious layer; `C` is the canary's absolute path. */
  readonly entries: (C: string, w: World) => TarEntry[];
  /** What an earlier layer left (built directly on disk, like containerd's `apply`). */
  readonly lower?: (w: World) => void;
  readonly expect: Expect;
  /** Expectation when names are made relative (default: same). */
  readonly expectRelative?: Expect;
  readonly root?: boolean;
  readonly limits?: Partial<ExtractLimits>;
}

const f = (name: string, content = '', mode = 0o644): TarEntry => ({ name, content, mode });
const d = (name: string, mode = 0o755): TarEntry => ({ name, type: 'directory', mode });
const sym = (linkname: string, name: string): TarEntry => ({ name, type: 'symlink', linkname });
const hard = (linkname: string, name: string): TarEntry => ({ name, type: 'link', linkname });

function sameInode(w: World, a: string, b: string): void {
  assert.equal(
    lstatSync(join(w.layer, a)).ino,
    lstatSync(join(w.layer, b)).ino,
    `${a} and ${b} are one inode`,
  );
}
function isSymlinkTo(w: World, rel: string, target: string): void {
  assert.ok(lstatSync(join(w.layer, rel)).isSymbolicLink(), `${rel} is a symlink`);
  assert.equal(readlinkSync(join(w.layer, rel)), target);
}
function isWhiteout(w: World, rel: string): void {
  const st = lstatSync(join(w.layer, rel));
  assert.ok(st.isCharacterDevice() && st.rdev === 0, `${rel} is a 0/0 whiteout`);
}

const cases: Case[] = [
  // containerd TestBreakouts: symlink escapes
  {
    name: 'SymlinkAbsolute',
    entries: (C) => [d('etc'), sym(`${C}/etc`, 'localetc'), f('/localetc/unbroken', 'unbroken')],
    expect: 'reject',
  },
  {
    name: 'SymlinkUpAndOut',
    entries: () => [
      d('etc'),
      d('dummy'),
      sym('/dummy/../../canary/etc', 'localetc'),
      f('/localetc/unbroken', 'unbroken'),
    ],
    expect: 'reject',
  },
  {
    name: 'SymlinkMultipleAbsolute',
    entries: (C) => [
      d('etc'),
      d('dummy'),
      sym(`${C}/etc`, '/dummy/etc'),
      sym('/dummy/etc', 'localetc'),
      f('/dummy/etc/unbroken', 'unbroken'),
    ],
    expect: 'reject',
  },
  {
    name: 'SymlinkMultipleRelative',
    entries: (C) => [
      d('etc'),
      d('dummy'),
      sym(`${C}/etc`, '/dummy/etc'),
      sym('./dummy/etc', 'localetc'),
      f('/dummy/etc/unbroken', 'unbroken'),
    ],
    expect: 'reject',
  },
  {
    name: 'SymlinkEmptyFile',
    entries: (C) => [
      d('etc'),
      f('etc/emptied', 'notempty'),
      sym(`${C}/etc`, 'localetc'),
      f('/localetc/emptied', ''),
    ],
    expect: 'reject',
  },
  // hardlink escapes
  {
    name: 'HardlinkRelative',
    entries: () => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      d('breakouts'),
      sym('../../canary/etc', 'breakouts/d1'),
      hard('/breakouts/d1/passwd', 'breakouts/mypasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'HardlinkDownAndOut',
    entries: () => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      d('breakouts'),
      d('downandout'),
      sym('../downandout/../../canary/etc', 'breakouts/d1'),
      hard('/breakouts/d1/passwd', 'breakouts/mypasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'HardlinkAbsolute',
    entries: (C) => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      sym(`${C}/etc`, 'localetc'),
      hard('/localetc/passwd', 'localpasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'HardlinkRelativeLong',
    entries: () => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      sym('../../../../../../../canary/etc', 'localetc'),
      hard('/localetc/passwd', 'localpasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'HardlinkRelativeUpAndOut',
    entries: () => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      sym('upandout/../../../canary/etc', 'localetc'),
      hard('/localetc/passwd', 'localpasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'HardlinkDirectRelative',
    entries: () => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      hard('../../../../../canary/etc/passwd', 'localpasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'HardlinkDirectAbsolute',
    entries: (C) => [d('etc', 0o770), f('/etc/passwd', 'inside'), hard(`${C}/etc/passwd`, 'localpasswd')],
    expect: 'reject',
  },
  {
    name: 'SymlinkParentDirectory',
    entries: (C) => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      sym(`${C}/etc/`, '..'),
      hard('/etc/passwd', 'localpasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'SymlinkEmptyFilename',
    entries: (C) => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      sym(`${C}/etc/`, '.'),
      hard('/etc/passwd', 'localpasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'SymlinkParentRelative',
    entries: (C) => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      sym(`${C}/etc/`, 'localetc/sub/..'),
      hard('/etc/passwd', '/localetc/localpasswd'),
    ],
    expect: 'reject',
  },
  {
    name: 'SymlinkSlashEnded',
    entries: () => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      d('localetc/', 0o770),
      hard('/etc/passwd', '/localetc/localpasswd'),
    ],
    expect: 'reject',
    expectRelative: (w) => {
      sameInode(w, 'localetc/localpasswd', 'etc/passwd');
    },
  },
  {
    name: 'SymlinkOverrideDirectory',
    lower: (w) => {
      mkdirSync(join(w.lower, 'etc'));
      writeFileSync(join(w.lower, 'etc/passwd'), 'inside');
      mkdirSync(join(w.lower, 'localetc'));
    },
    entries: (C) => [sym(`${C}/etc`, 'localetc'), hard('/etc/passwd', '/localetc/localpasswd')],
    expect: 'reject',
  },
  {
    name: 'SymlinkOverrideDirectoryRelative',
    lower: (w) => {
      mkdirSync(join(w.lower, 'etc'));
      writeFileSync(join(w.lower, 'etc/passwd'), 'inside');
      mkdirSync(join(w.lower, 'localetc'));
    },
    entries: () => [sym('../../canary/etc', 'localetc'), hard('/etc/passwd', '/localetc/localpasswd')],
    expect: 'reject',
  },
  {
    name: 'DirectoryOverrideSymlink',
    lower: (w) => {
      mkdirSync(join(w.lower, 'etc'));
      writeFileSync(join(w.lower, 'etc/passwd'), 'inside');
      symlinkSync(join(w.canary, 'etc'), join(w.lower, 'localetc'));
    },
    entries: () => [d('/localetc/'), hard('/etc/passwd', '/localetc/localpasswd')],
    expect: 'reject',
    // The directory shadows the lower symlink; the link target is an earlier layer's file, copied.
    expectRelative: (w) => {
      assert.ok(lstatSync(join(w.layer, 'localetc')).isDirectory());
      assert.equal(readFileSync(join(w.layer, 'localetc/localpasswd'), 'utf8'), 'inside');
    },
  },
  {
    name: 'DirectoryOverrideSymlinkAndHardlink',
    lower: (w) => {
      mkdirSync(join(w.lower, 'etc'));
      writeFileSync(join(w.lower, 'etc/passwd'), 'inside');
      symlinkSync('etc', join(w.lower, 'localetc'));
    },
    entries: () => [d('/localetc/'), f('/localetc/localpasswd', 'different')],
    expect: 'reject',
    expectRelative: (w) => {
      assert.equal(readFileSync(join(w.layer, 'localetc/localpasswd'), 'utf8'), 'different');
    },
  },
  // whiteouts
  { name: 'WhiteoutRootParent', entries: () => [f('.wh...')], expect: 'reject' },
  { name: 'WhiteoutParent', entries: () => [f('etc/.wh...')], expect: 'reject' },
  { name: 'WhiteoutRoot', entries: () => [f('.wh..')], expect: 'reject' },
  { name: 'WhiteoutCurrentDirectory', entries: () => [f('etc/.wh..')], expect: 'reject' },
  {
    name: 'WhiteoutSymlink',
    root: true,
    lower: (w) => {
      symlinkSync(join(w.canary, 'etc'), join(w.lower, 'localetc'));
    },
    entries: () => [f('.wh.localetc')],
    expect: (w) => {
      isWhiteout(w, 'localetc');
    },
  },
  {
    name: 'WhiteoutSymlinkPath',
    root: true,
    lower: (w) => {
      symlinkSync(join(w.canary, 'etc'), join(w.lower, 'localetc'));
    },
    entries: () => [f('localetc/.wh.whitedout')],
    // Contained: the whiteout lands in this layer's own localetc/, never in the canary.
    expect: (w) => {
      assert.ok(lstatSync(join(w.layer, 'localetc')).isDirectory());
      isWhiteout(w, 'localetc/whitedout');
    },
  },
  {
    name: 'WhiteoutDirectoryName',
    entries: () => [f('.wh.etc/somefile', 'non-empty')],
    expect: (w) => {
      assert.equal(readFileSync(join(w.layer, '.wh.etc/somefile'), 'utf8'), 'non-empty');
    },
  },
  {
    name: 'WhiteoutDeadSymlinkParent',
    root: true,
    lower: (w) => {
      symlinkSync('/dne', join(w.lower, 'localetc'));
    },
    entries: () => [f('localetc/.wh.etc')],
    expect: (w) => {
      isWhiteout(w, 'localetc/etc');
    },
  },
  { name: 'WhiteoutRelativePath', entries: () => [f('dne/../.wh.etc')], expect: 'reject' },
  // hard links to symlinks (not followed)
  {
    name: 'HardlinkSymlinkBeforeCreateTarget',
    entries: (C) => [
      d('etc', 0o770),
      sym(`${C}/etc/passwd`, 'localpasswd'),
      hard('localpasswd', 'localpasswd-dup'),
      f('/etc/passwd', 'after'),
    ],
    expect: 'reject',
    expectRelative: (w) => {
      isSymlinkTo(w, 'localpasswd-dup', join(w.canary, 'etc/passwd'));
      assert.equal(readFileSync(join(w.layer, 'etc/passwd'), 'utf8'), 'after');
    },
  },
  {
    name: 'HardlinkSymlinkRelative',
    entries: () => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      sym('../../../../../canary/etc/passwd', 'passwdlink'),
      hard('/passwdlink', 'localpasswd'),
    ],
    expect: 'reject',
    expectRelative: (w) => {
      isSymlinkTo(w, 'localpasswd', '../../../../../canary/etc/passwd');
      sameInode(w, 'localpasswd', 'passwdlink');
    },
  },
  {
    name: 'HardlinkSymlinkAbsolute',
    entries: (C) => [
      d('etc', 0o770),
      f('/etc/passwd', 'inside'),
      sym(`${C}/etc/passwd`, 'passwdlink'),
      hard('/passwdlink', 'localpasswd'),
    ],
    expect: 'reject',
    expectRelative: (w) => {
      isSymlinkTo(w, 'localpasswd', join(w.canary, 'etc/passwd'));
    },
  },
  {
    name: 'HardlinkSymlinkChmod',
    entries: (C) => [
      sym(`${C}/perm400`, `${C}/also-exists-outside-root`),
      { ...hard(`${C}/also-exists-outside-root`, 'sketchylink'), mode: 0o777 },
    ],
    expect: 'reject',
    expectRelative: (w) => {
      assert.equal(lstatSync(join(w.canary, 'perm400')).mode & 0o777, 0o400);
    },
  },
  // catalogue bad inputs 19–26
  { name: 'DotDotName', entries: () => [f('../../../../tmp/evil', 'x')], expect: 'reject' },
  { name: 'DotSlashDotDot', entries: () => [f('./../x', 'x')], expect: 'reject' },
  {
    name: 'PaxPathOverride',
    entries: () => [{ ...f('innocent', 'x'), pax: { path: '../../canary/evil' } }],
    expect: 'reject',
  },
  {
    name: 'GnuLongNameIsFine',
    entries: () => [f(`${'a'.repeat(120)}/${'b'.repeat(120)}`, 'long')],
    expect: (w) => {
      assert.equal(readFileSync(join(w.layer, 'a'.repeat(120), 'b'.repeat(120)), 'utf8'), 'long');
    },
  },
  {
    name: 'SymlinkThenWriteAcrossLayers (GNU tar CVE-2025-45582)',
    lower: (w) => {
      symlinkSync(join(w.canary, 'etc'), join(w.lower, 'x'));
    },
    entries: () => [f('x/authorized_keys', 'ssh-rsa evil')],
    // A fresh layer dir has no `x`: the file lands in this layer's own x/, the canary never sees it.
    expect: (w) => {
      assert.equal(readFileSync(join(w.layer, 'x/authorized_keys'), 'utf8'), 'ssh-rsa evil');
    },
  },
  {
    name: 'EntryCountBomb',
    entries: () => Array.from({ length: 60 }, (_, i) => f(`f${i}`)),
    limits: { maxEntries: 50 },
    expect: 'reject',
  },
  { name: 'LongPath', entries: () => [f(`${'d/'.repeat(2100)}x`)], expect: 'reject' },
  {
    name: 'DevicesSkipped',
    entries: () => [
      { name: 'dev/evil', type: 'character-device', devmajor: 1, devminor: 1 },
      { name: 'fifo', type: 'fifo' },
    ],
    expect: (w) => {
      assert.deepEqual(readdirSync(w.layer), []);
    },
  },
  {
    name: 'PrivilegedXattrsDropped',
    root: true,
    entries: () => [
      {
        ...f('file', 'x'),
        pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.user.ok': 'fine' },
      },
    ],
    expect: (w) => {
      const r = spawnSync('getfattr', ['-d', '-m', '-', join(w.layer, 'file')], { encoding: 'utf8' });
      assert.match(r.stdout, /user\.ok="fine"/);
      assert.doesNotMatch(r.stdout, /trusted/);
    },
  },
  {
    name: 'DirectoryReplacedBySymlinkKeepsNoPendingChmod',
    entries: () => [d('d', 0o777), sym('../canary/dirmode', 'd')],
    expect: (w) => {
      isSymlinkTo(w, 'd', '../canary/dirmode');
      assert.equal(lstatSync(join(w.canary, 'dirmode')).mode & 0o777, 0o700);
    },
  },
  {
    name: 'DirectoryReplacedBySymlinkThenWrite',
    entries: (C) => [d('d', 0o777), sym(`${C}/dirmode`, 'd'), f('d/evil', 'x')],
    expect: 'reject',
  },
  {
    name: 'FileThenDirectorySameName',
    entries: () => [f('a', 'file'), d('a'), f('a/b', 'inside')],
    expect: (w) => {
      assert.equal(readFileSync(join(w.layer, 'a/b'), 'utf8'), 'inside');
    },
  },
  {
    name: 'UnicodeNamesAreDistinct',
    entries: () => [f('caf\u00e9', 'nfc'), f('cafe\u0301', 'nfd')],
    expect: (w) => {
      assert.equal(readFileSync(join(w.layer, 'caf\u00e9'), 'utf8'), 'nfc');
      assert.equal(readFileSync(join(w.layer, 'cafe\u0301'), 'utf8'), 'nfd');
    },
  },
  { name: 'HardlinkToDirectory', entries: () => [d('dir'), hard('dir', 'link')], expect: 'reject' },
  {
    name: 'ReadOnlyDirectoryFilledThenLocked',
    entries: () => [d('ro', 0o555), f('ro/file', 'x')],
    expect: (w) => {
      assert.equal(readFileSync(join(w.layer, 'ro/file'), 'utf8'), 'x');
      assert.equal(lstatSync(join(w.layer, 'ro')).mode & 0o777, 0o555);
    },
  },
];

/** `/x` → `x` in names and hard-link targets (symlink targets are left alone). */
function relativize(entries: TarEntry[]): TarEntry[] {
  return entries.map((e) => ({
    ...e,
    name: e.name.replace(/^\/+/, ''),
    ...(e.type === 'link' && e.linkname !== undefined ? { linkname: e.linkname.replace(/^\/+/, '') } : {}),
  }));
}

describe('layer extraction breakouts (containerd TestBreakouts and the bad-input catalogue)', () => {
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'berth-breakouts-'));
  });
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  for (const c of cases) {
    for (const variant of ['as written', 'relative names'] as const) {
      const build = (C: string, w: World): TarEntry[] =>
        variant === 'as written' ? c.entries(C, w) : relativize(c.entries(C, w));
      const expect = variant === 'relative names' ? (c.expectRelative ?? c.expect) : c.expect;
      it(`${c.name} (${variant})`, { skip: c.root === true ? needsRoot : undefined }, async () => {
        const w = makeWorld(c.lower ?? (() => undefined));
        const tar = await makeTar(build(w.canary, w));
        const canaryBefore = fingerprint(w.canary);
        const lowerBefore = fingerprint(w.lower);
        let error: unknown;
        try {
          await extractLayer([tar], {
            root: w.layer,
            runner: execCommandRunner,
            lowerDirs: () => Promise.resolve([w.lower]),
            ...(c.limits === undefined ? {} : { limits: c.limits }),
          });
        } catch (err) {
          error = err;
        }
        assert.deepEqual(fingerprint(w.canary), canaryBefore, 'the canary ("host") changed');
        assert.deepEqual(fingerprint(w.lower), lowerBefore, 'the lower layer changed');
        if (expect === 'reject') {
          assert.ok(
            isBerthError(error, errorCodes.IMAGE_LAYER_REJECTED),
            `expected a rejection, got ${error === undefined ? 'success' : error instanceof Error ? error.message : 'a non-error'}`,
          );
        } else {
          if (error !== undefined) throw error instanceof Error ? error : new Error('extraction failed');
          expect(w);
        }
      });
    }
  }
});

describe('decompression and size bombs through the unpacker', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-bombs-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  async function unpack(tar: Buffer, limits: Partial<ExtractLimits>): Promise<unknown> {
    const gz = gzipSync(tar);
    const root = mkdtempSync(join(dir, 'l-'));
    try {
      await unpackLayer({
        source: [gz],
        descriptor: { mediaType: mediaTypes.ociLayerGzip, digest: sha256Digest(gz), size: gz.length },
        diffId: sha256Digest(tar),
        extract: { root, runner: execCommandRunner, limits },
      });
      return undefined;
    } catch (err) {
      return err;
    }
  }

  it('10 MiB of zeros against a 1 MiB limit is rejected', async () => {
    const tar = await makeTar([f('zeros', Buffer.alloc(10 * 1024 * 1024).toString())]);
    assert.ok(gzipSync(tar).length < 100_000);
    const err = await unpack(tar, { maxBytes: 1024 * 1024 });
    assert.ok(isBerthError(err, errorCodes.IMAGE_LAYER_REJECTED), String(err));
  });

  it('a header declaring an 8 EiB file is rejected', async () => {
    const tar = await makeTar([f('small', 'x')]);
    // Rewrite the size field (octal, offset 124, 12 bytes) to the largest octal value, fix the checksum.
    const h = Buffer.from(tar);
    h.write('77777777777\0', 124, 'ascii');
    h.fill(' ', 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += h[i] ?? 0;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    const err = await unpack(h, { maxBytes: 1024 * 1024 });
    assert.ok(isBerthError(err, errorCodes.IMAGE_LAYER_REJECTED), String(err));
  });

  it('a lying diff_id is refused after extraction', async () => {
    const tar = await makeTar([f('a', 'x')]);
    const gz = gzipSync(tar);
    const root = mkdtempSync(join(dir, 'l-'));
    await assert.rejects(
      unpackLayer({
        source: [gz],
        descriptor: { mediaType: mediaTypes.ociLayerGzip, digest: sha256Digest(gz), size: gz.length },
        diffId: sha256Digest('something else'),
        extract: { root, runner: execCommandRunner },
      }),
      (err) => isBerthError(err, errorCodes.IMAGE_INVALID) && /diff_id/.test(err.message),
    );
  });
});
