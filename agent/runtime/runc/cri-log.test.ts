import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/logger.js';
import { criTimestamp } from '../../streams/cri-log.js';
import { CriLogWriter, formatCriRecords, maxLineBytes, rotationSuffix } from './cri-log.js';

const ts = '2026-01-01T00:00:00.000000000Z';

describe('CRI log records', () => {
  it('formats timestamps with nine fractional digits and the kubelet rotation suffix', () => {
    assert.equal(criTimestamp(Date.UTC(2026, 10, 27, 23, 59, 59, 123)), '2026-11-27T23:59:59.123000000Z');
    assert.equal(rotationSuffix(Date.UTC(2026, 10, 27, 23, 59, 59, 123)), '20261127-235959');
  });

  it('writes whole lines as F, keeps the unfinished rest, and flushes it as F at the end', () => {
    const a = formatCriRecords('stdout', ts, Buffer.alloc(0), Buffer.from('one\ntw'));
    assert.equal(a.records.toString(), `${ts} stdout F one\n`);
    assert.equal(a.pending.toString(), 'tw');
    const b = formatCriRecords('stdout', ts, a.pending, Buffer.from('o\nthree'), true);
    assert.equal(b.records.toString(), `${ts} stdout F two\n${ts} stdout F three\n`);
    assert.equal(b.pending.length, 0);
  });

  it('splits lines longer than 16 KiB into P records', () => {
    const long = 'x'.repeat(maxLineBytes + 10);
    const r = formatCriRecords('stderr', ts, Buffer.alloc(0), Buffer.from(`${long}\n`));
    const lines = r.records.toString().split('\n');
    assert.equal(lines[0], `${ts} stderr P ${'x'.repeat(maxLineBytes)}`);
    assert.equal(lines[1], `${ts} stderr F ${'x'.repeat(10)}`);
  });
});

describe('CriLogWriter', () => {
  it('rotates by size at record boundaries and keeps maxFiles - 1 rotated files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-cri-log-'));
    try {
      const clock = new FakeClock();
      const w = new CriLogWriter({
        path: join(dir, '0.log'),
        clock,
        logger: silentLogger(),
        maxBytes: 200,
        maxFiles: 2,
      });
      for (let i = 0; i < 3; i++) {
        w.write('stdout', Buffer.from(Array.from({ length: 10 }, (_, j) => `line ${i}-${j}\n`).join('')));
        await w.flush();
        await clock.advance(1000);
      }
      await w.close();
      const files = readdirSync(dir).sort();
      assert.equal(files.length, 2, files.join(' '));
      assert.match(files[1] ?? '', /^0\.log\.\d{8}-\d{6}(\.\d+)?$/);
      const live = readFileSync(join(dir, '0.log'), 'utf8');
      assert.ok(live.length <= 200);
      assert.match(live, /stdout F line 2-9\n$/);
      for (const l of live.trimEnd().split('\n')) assert.match(l, /^\S+ stdout F line \d-\d$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
