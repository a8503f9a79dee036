/**
 * What overlayfs whiteouts cost Berth's per-layer snapshots (agent/images/local-image-service.ts
 * explains the choice): a layer with N file whiteouts and one opaque directory is extracted with the
 * real extractor, which turns them into 0/0 character devices and `trusted.overlay.opaque` through one
 * `sh` running `mknod`/`setfattr`. Compared with the same layer without whiteouts, the difference is
 * the price of not merging layers into one tree. Root only. Usage:
 *   npm run bench -- whiteouts [--rounds N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execCommandRunner } from '../lib/command-runner.js';
import { extractLayer } from '../agent/images/layer-extractor.js';
import { makeTar, type TarEntry } from '../test/harness/images.js';
import { median, printTable } from './lib/stats.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(args.rounds);

async function layer(files: number, whiteouts: number): Promise<Buffer> {
  const entries: TarEntry[] = [{ name: 'data/', type: 'directory' }];
  for (let i = 0; i < files; i++) entries.push({ name: `data/f${i}`, content: 'x'.repeat(100) });
  for (let i = 0; i < whiteouts; i++) entries.push({ name: `data/.wh.gone${i}` });
  if (whiteouts > 0) entries.push({ name: 'opq/', type: 'directory' }, { name: 'opq/.wh..wh..opq' });
  return makeTar(entries);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('skipping: whiteouts need root (mknod, trusted.* xattrs)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-whiteouts-'));
  try {
    const rows: string[][] = [];
    for (const whiteouts of [0, 1, 10, 100, 1000]) {
      const tar = await layer(1000, whiteouts);
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const root = mkdtempSync(join(dir, 'l-'));
        const t0 = performance.now();
        await extractLayer([tar], { root, runner: execCommandRunner });
        times.push(performance.now() - t0);
        rmSync(root, { recursive: true, force: true });
      }
      rows.push([String(whiteouts), median(times).toFixed(1)]);
    }
    printTable(['whiteouts in a 1,000-file layer', 'extract ms (median)'], rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
