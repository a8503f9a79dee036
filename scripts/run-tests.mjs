#!/usr/bin/env node
// Runs the test suite with node:test through tsx. Node 20 treats `--test` arguments as paths and
// Node >= 21 as globs, so the file list is expanded here and passed explicitly (same on every version).
//   node scripts/run-tests.mjs            every *.test.ts
//   node scripts/run-tests.mjs --unit     only co-located unit tests (not test/)
//   node scripts/run-tests.mjs PATTERN..  only files whose path contains one of the patterns
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const skipDirs = new Set(['node_modules', 'dist', '.git', '.ci']);

function walk(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!skipDirs.has(entry.name)) walk(join(dir, entry.name), out);
    } else if (entry.name.endsWith('.test.ts')) {
      out.push(relative(root, join(dir, entry.name)));
    }
  }
  return out;
}

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const patterns = args.filter((a) => !a.startsWith('--'));
let files = walk(root, []).sort();
if (unitOnly) files = files.filter((f) => !f.startsWith('test/'));
if (patterns.length > 0) files = files.filter((f) => patterns.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

// Most suites wait on processes and sockets rather than CPU, so run a few files at once.
const concurrency = process.env.BERTH_TEST_CONCURRENCY ?? String(Math.max(2, availableParallelism()));
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
