import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { realClock } from '../../lib/clock.js';
import { criTimestamp, formatCriEntries, parseCriLine } from './cri-log.js';
import { readCriLog, type LogReadOptions } from './log-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-log-reader-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function logFile(content: string): string {
  const path = join(dir, `${n++}.log`);
  writeFileSync(path, content);
  return path;
}

const base: LogReadOptions = { tailLines: -1, sinceMs: 0, timestamps: false, limitBytes: 0, follow: false };
const t0 = Date.parse('2026-11-27T10:00:00Z');

async function read(path: string, opts: Partial<LogReadOptions>, running = false): Promise<string> {
  let out = '';
  await readCriLog(
    path,
    { ...base, ...opts },
    (data) => {
      out += Buffer.from(data).toString('utf8');
      return Promise.resolve();
    },
    new AbortController().signal,
    { clock: realClock, pollIntervalMs: 10, stillRunning: () => Promise.resolve(running) },
  );
  return out;
}

describe('CRI log lines', () => {
  it('parses entries, keeping the time as written and an empty message', () => {
    assert.deepEqual(parseCriLine('2016-10-06T00:17:09.669794202Z stdout F hello world'), {
      time: '2016-10-06T00:17:09.669794202Z',
      timeMs: Date.parse('2016-10-06T00:17:09.669Z'),
      stream: 'stdout',
      partial: false,
      message: 'hello world',
    });
    assert.equal(parseCriLine('2016-10-06T00:17:09.669794202Z stderr P ')?.message, '');
    assert.equal(parseCriLine('2016-10-06T00:17:09Z stdout F')?.message, '');
    assert.equal(parseCriLine('not a log line'), undefined);
    assert.equal(parseCriLine('2016-10-06T00:17:09Z stdin F x'), undefined);
  });

  it('formats chunks as F lines and a trailing P piece', () => {
    const ts = criTimestamp(t0);
    assert.equal(ts, '2026-11-27T10:00:00.000000000Z');
    assert.equal(
      formatCriEntries(t0, 'stdout', 'a\nb\nc'),
      `${ts} stdout F a\n${ts} stdout F b\n${ts} stdout P c\n`,
    );
  });
});

describe('readCriLog', () => {
  const lines = (specs: readonly [number, 'stdout' | 'stderr', string][]): string =>
    specs.map(([ms, stream, text]) => formatCriEntries(t0 + ms, stream, text)).join('');

  it('strips the prefix, and keeps the first entry time of each line with timestamps', async () => {
    const path = logFile(
      lines([
        [0, 'stdout', 'one\n'],
        [1000, 'stderr', 'two\n'],
      ]),
    );
    assert.equal(await read(path, {}), 'one\ntwo\n');
    assert.equal(
      await read(path, { timestamps: true }),
      `${criTimestamp(t0)} one\n${criTimestamp(t0 + 1000)} two\n`,
    );
  });

  it('joins partial entries into one line, per stream, even when interleaved', async () => {
    const path = logFile(
      lines([
        [0, 'stdout', 'hel'],
        [1, 'stderr', 'err\n'],
        [2, 'stdout', 'lo\n'],
      ]),
    );
    assert.equal(await read(path, {}), 'err\nhello\n');
    assert.equal(await read(path, { tailLines: 1 }), 'hello\n');
    assert.equal(await read(path, { timestamps: true, tailLines: 1 }), `${criTimestamp(t0)} hello\n`);
  });

  it('tails logical lines, including an unfinished last line', async () => {
    const path = logFile(
      lines([
        [0, 'stdout', 'a\nb\nc\nd\n'],
        [5, 'stdout', 'unfinished'],
      ]),
    );
    assert.equal(await read(path, { tailLines: 2 }), 'd\nunfinished');
    assert.equal(await read(path, { tailLines: 0 }), '');
    assert.equal(await read(path, { tailLines: 10 }), 'a\nb\nc\nd\nunfinished');
  });

  it('keeps only lines since a time, and stops at limitBytes', async () => {
    const path = logFile(
      lines([
        [0, 'stdout', 'old\n'],
        [60_000, 'stdout', 'new\n'],
        [120_000, 'stdout', 'newer\n'],
      ]),
    );
    assert.equal(await read(path, { sinceMs: t0 + 60_000 }), 'new\nnewer\n');
    assert.equal(await read(path, { limitBytes: 6 }), 'old\nne');
  });

  it('skips lines that are not CRI entries and reads files larger than one chunk', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(20)}\n`).join('');
    const path = logFile(`garbage\n${formatCriEntries(t0, 'stdout', many)}`);
    const out = await read(path, { tailLines: 2 });
    assert.equal(out, `line 4998 ${'x'.repeat(20)}\nline 4999 ${'x'.repeat(20)}\n`);
    assert.equal((await read(path, {})).split('\n').length, 5001);
  });

  it('returns nothing for a missing file when not following', async () => {
    assert.equal(await read(join(dir, 'missing.log'), {}), '');
  });

  it('follows new lines until the container stops, then reads what it wrote last', async () => {
    const path = logFile(lines([[0, 'stdout', 'first\n']]));
    let running = true;
    const chunks: string[] = [];
    let wake: (() => void) | undefined;
    const done = readCriLog(
      path,
      { ...base, follow: true, tailLines: 1 },
      (data) => {
        chunks.push(Buffer.from(data).toString('utf8'));
        wake?.();
        return Promise.resolve();
      },
      new AbortController().signal,
      { clock: realClock, pollIntervalMs: 5, stillRunning: () => Promise.resolve(running) },
    );
    const waitFor = async (text: string): Promise<void> => {
      while (!chunks.join('').includes(text)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    };
    await waitFor('first\n');
    appendFileSync(path, formatCriEntries(t0 + 10, 'stdout', 'sec'));
    appendFileSync(path, formatCriEntries(t0 + 11, 'stdout', 'ond\n'));
    await waitFor('second\n');
    appendFileSync(path, formatCriEntries(t0 + 20, 'stdout', 'last words\n'));
    running = false;
    await done;
    assert.equal(chunks.join(''), 'first\nsecond\nlast words\n');
  });

  it('stops following when aborted', async () => {
    const path = logFile('');
    const abort = new AbortController();
    const done = readCriLog(path, { ...base, follow: true }, () => Promise.resolve(), abort.signal, {
      clock: realClock,
      pollIntervalMs: 5,
      stillRunning: () => Promise.resolve(true),
    });
    setTimeout(() => {
      abort.abort();
    }, 30);
    await done;
  });

  it('reads a truncated file again from its start', async () => {
    const path = logFile(lines([[0, 'stdout', 'a long first line\n']]));
    let running = true;
    let out = '';
    const done = readCriLog(
      path,
      { ...base, follow: true },
      (data) => {
        out += Buffer.from(data).toString('utf8');
        return Promise.resolve();
      },
      new AbortController().signal,
      { clock: realClock, pollIntervalMs: 5, stillRunning: () => Promise.resolve(running) },
    );
    while (!out.includes('first')) await new Promise((r) => setTimeout(r, 10));
    writeFileSync(path, formatCriEntries(t0, 'stdout', 'b\n'));
    while (!out.includes('b\n')) await new Promise((r) => setTimeout(r, 10));
    running = false;
    await done;
    assert.equal(out, 'a long first line\nb\n');
  });
});
