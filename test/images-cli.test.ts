/**
 * `berth image …` as a user runs it (a real process through tsx) against a real registry and a
 * node data dir: pull (with per-layer progress lines when not on a terminal), ls, inspect, export,
 * rm, import, prune, and the errors for a missing image and a bad reference.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  busyboxAvailable,
  busyboxEntries,
  makeImage,
  makeLayer,
  makeTar,
  pushImage,
} from './harness/images.js';
import { registryAvailable, startRegistry, type RegistryHandle } from './harness/registry.js';

const skip = registryAvailable() ?? busyboxAvailable();
if (skip !== undefined) console.log(`# skipping berth image CLI tests: ${skip}`);
const repoRoot = new URL('..', import.meta.url).pathname;

describe('berth image CLI', { skip }, () => {
  /** Undone in reverse order after the suite, whatever failed. */
  const cleanup: (() => Promise<void>)[] = [];
  let reg: RegistryHandle;
  let dir: string;
  let ref: string;

  const berth = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [
          '--import',
          'tsx',
          join(repoRoot, 'cli/main.ts'),
          'image',
          ...args,
          '--data-dir',
          join(dir, 'node'),
          '--registries',
          join(dir, 'none.yaml'),
          '--docker-config',
          join(dir, 'none.json'),
        ],
        { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 },
        (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
        },
      );
    });

  before(async () => {
    reg = await startRegistry({ mode: 'plain' });
    cleanup.push(() => reg.stop());
    dir = mkdtempSync(join(tmpdir(), 'berth-image-cli-'));
    cleanup.push(() => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    });
    const layers = [
      makeLayer(await makeTar(busyboxEntries())),
      makeLayer(await makeTar([{ name: 'etc/motd', content: 'hi\n' }])),
    ];
    await pushImage(reg, 'cli/app', 'v1', makeImage(layers));
    ref = `${reg.host}/cli/app:v1`;
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('pull prints progress per layer and the digest', async () => {
    const r = await berth(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Digest: sha256:[0-9a-f]{64}\nPulled .*cli\/app:v1 \(.* MB\) in [\d.]+s\n$/);
    assert.match(r.stderr, /Resolving .*cli\/app:v1/);
    assert.equal(r.stderr.match(/: pulled /g)?.length, 2);
  });

  it('ls and inspect', async () => {
    const ls = await berth(['ls']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^REFERENCE\s+IMAGE ID\s+PLATFORM\s+SIZE\s+LAST USED\n/);
    assert.match(ls.stdout, new RegExp(`${reg.host}/cli/app:v1\\s+[0-9a-f]{12}\\s+linux/amd64`));
    const inspect = await berth(['inspect', ref]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const [img] = JSON.parse(inspect.stdout) as { layers: unknown[]; references: string[] }[];
    assert.equal(img?.layers.length, 2);
    assert.ok(img.references.includes(ref));
  });

  it('export, rm, import, prune', async () => {
    const file = join(dir, 'app.tar');
    const ex = await berth(['export', ref, '-o', file]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.ok(statSync(file).size > 500_000);
    const rm = await berth(['rm', ref]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /Deleted: /);
    const missing = await berth(['rm', ref]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such image/);
    const im = await berth(['import', file]);
    assert.equal(im.code, 0, im.stderr);
    assert.match(im.stdout, new RegExp(`Imported ${reg.host}/cli/app:v1`));
    const prune = await berth(['prune', '--all']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /Deleted: .*cli\/app:v1\nTotal reclaimed space: .* MB/);
  });

  it('refuses a bad reference and reports a missing image clearly', async () => {
    const bad = await berth(['pull', 'Not/Valid']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /must be lowercase/);
    const nf = await berth(['pull', `${reg.host}/cli/nope:v1`]);
    assert.equal(nf.code, 1);
    assert.match(nf.stderr, /NotFound: failed to resolve reference/);
  });
});
