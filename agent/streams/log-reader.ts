/**
 * Reads a container's CRI-format log file (cri-log.ts) the way `kubectl logs` wants it: the
 * messages with the CRI prefix stripped (or with the entry's timestamp, `timestamps`), the last
 * `tailLines` lines, only lines at or after `sinceMs`, at most `limitBytes` bytes, and with `follow`
 * the lines written later too, until the container is gone.
 *
 *   reading (existing lines, tail/since applied) ──end of file──▶ done             (no follow)
 *                                                  └──follow──▶ polling ──new bytes──▶ emit ─┐
 *                                                                 ▲ └──container gone──▶ done │
 *                                                                 └───────────────────────────┘
 *
 * Decisions: `tailLines` counts logical lines (a run of `P` entries ended by an `F` entry is one
 * line), not file lines as the kubelet does, so a long line split by the runtime is never cut in
 * half. With `timestamps` a line is prefixed with the time of its first entry. Following polls the
 * file (every `pollIntervalMs`, on the injected clock) rather than using fs.watch, which is
 * unreliable across filesystems; a file that shrank is read again from its start (truncation).
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Clock } from '../../lib/clock.js';
import { parseCriLine, type CriLogEntry, type LogStream } from './cri-log.js';

export interface LogReadOptions {
  /** -1: every line. */
  readonly tailLines: number;
  /** Only lines whose first entry is at or after this time (ms since the epoch); 0: no limit. */
  readonly sinceMs: number;
  readonly timestamps: boolean;
  /** 0: no limit. */
  readonly limitBytes: number;
  readonly follow: boolean;
}

export interface LogFollowDeps {
  readonly clock: Clock;
  /** How often a followed file is checked for new bytes (default 250 ms). */
  readonly pollIntervalMs?: number;
  /** False once the container can write no more (exited or removed): following then ends. */
  readonly stillRunning: () => Promise<boolean>;
}

/** Writes the selected log output through `write` (which applies backpressure). */
export async function readCriLog(
  path: string,
  opts: LogReadOptions,
  write: (data: Uint8Array) => Promise<void>,
  signal: AbortSignal,
  deps: LogFollowDeps,
): Promise<void> {
  const out = new LimitedWriter(write, opts.limitBytes);
  const file = new LogFile(path);
  try {
    // The file as it is now: whole lines, then tail and since.
    const lines: LogicalLine[] = [];
    const assembler = new LineAssembler();
    for (;;) {
      const entries = await file.readEntries();
      if (entries === undefined) break;
      for (const e of entries) {
        const line = assembler.add(e);
        if (line !== undefined) keep(lines, line, opts);
      }
    }
    for (const pending of assembler.pendingLines()) keep(lines, pending, opts);
    for (const line of lines) {
      if (!(await out.write(render(line, opts.timestamps)))) return;
    }
    if (!opts.follow) return;

    // From here on every entry goes out as it comes; only the since filter still applies.
    const emitter = new EntryEmitter(opts, assembler.midLine());
    const interval = deps.pollIntervalMs ?? 250;
    let lastCheck = false;
    while (!signal.aborted) {
      const entries = await file.readEntries();
      if (entries !== undefined) {
        for (const e of entries) {
          const text = emitter.render(e);
          if (text !== '' && !(await out.write(text))) return;
        }
        continue;
      }
      if (lastCheck) return;
      if (!(await deps.stillRunning())) {
        // One more read: what the container wrote just before it exited.
        lastCheck = true;
        continue;
      }
      try {
        await deps.clock.sleep(interval, signal);
      } catch {
        return;
      }
    }
  } finally {
    await file.close();
  }
}

interface LogicalLine {
  readonly time: string;
  readonly timeMs: number;
  readonly stream: LogStream;
  readonly text: string;
  /** False for the unfinished last line of a stream (no newline yet). */
  readonly complete: boolean;
}

function keep(lines: LogicalLine[], line: LogicalLine, opts: LogReadOptions): void {
  if (opts.sinceMs > 0 && line.timeMs < opts.sinceMs) return;
  if (opts.tailLines === 0) return;
  lines.push(line);
  if (opts.tailLines > 0 && lines.length > opts.tailLines) lines.shift();
}

function render(line: LogicalLine, timestamps: boolean): string {
  const body = line.complete ? `${line.text}\n` : line.text;
  return timestamps ? `${line.time} ${body}` : body;
}

/** Joins `P` entries with the `F` entry that ends them, per stream (stdout and stderr interleave). */
class LineAssembler {
  readonly #pending = new Map<LogStream, { time: string; timeMs: number; text: string }>();

  add(e: CriLogEntry): LogicalLine | undefined {
    const p = this.#pending.get(e.stream);
    const start = p ?? { time: e.time, timeMs: e.timeMs, text: '' };
    const text = start.text + e.message;
    if (e.partial) {
      this.#pending.set(e.stream, { ...start, text });
      return undefined;
    }
    this.#pending.delete(e.stream);
    return { time: start.time, timeMs: start.timeMs, stream: e.stream, text, complete: true };
  }

  /** Unfinished lines, oldest first. */
  pendingLines(): LogicalLine[] {
    return [...this.#pending.entries()]
      .map(([stream, p]) => ({ ...p, stream, complete: false }))
      .sort((a, b) => a.timeMs - b.timeMs);
  }

  /** Streams whose current line has started (so following must not prefix a timestamp again). */
  midLine(): Map<LogStream, number> {
    return new Map([...this.#pending].map(([s, p]) => [s, p.timeMs]));
  }
}

/** Renders entries one by one while following. */
class EntryEmitter {
  readonly #opts: LogReadOptions;
  /** Per stream: the time the current unfinished line started (for the since filter). */
  readonly #mid: Map<LogStream, number>;

  constructor(opts: LogReadOptions, mid: Map<LogStream, number>) {
    this.#opts = opts;
    this.#mid = mid;
  }

  render(e: CriLogEntry): string {
    const started = this.#mid.get(e.stream);
    const lineStart = started ?? e.timeMs;
    if (e.partial) this.#mid.set(e.stream, lineStart);
    else this.#mid.delete(e.stream);
    if (this.#opts.sinceMs > 0 && lineStart < this.#opts.sinceMs) return '';
    const body = e.partial ? e.message : `${e.message}\n`;
    return this.#opts.timestamps && started === undefined ? `${e.time} ${body}` : body;
  }
}

/** Stops after `limit` bytes (0: never), cutting the last chunk. */
class LimitedWriter {
  readonly #write: (data: Uint8Array) => Promise<void>;
  readonly #limit: number;
  #written = 0;

  constructor(write: (data: Uint8Array) => Promise<void>, limit: number) {
    this.#write = write;
    this.#limit = limit;
  }

  /** Resolves false once the limit is reached (nothing more should be written). */
  async write(text: string): Promise<boolean> {
    let bytes: Uint8Array = Buffer.from(text, 'utf8');
    if (this.#limit > 0) {
      const room = this.#limit - this.#written;
      if (room <= 0) return false;
      if (bytes.length > room) bytes = bytes.subarray(0, room);
    }
    if (bytes.length > 0) await this.#write(bytes);
    this.#written += bytes.length;
    return this.#limit === 0 || this.#written < this.#limit;
  }
}

const chunkSize = 64 * 1024;

/** A log file read incrementally by whole lines; tolerates the file not existing yet. */
class LogFile {
  readonly #path: string;
  #fh: FileHandle | undefined;
  #offset = 0;
  #rest: Buffer = Buffer.alloc(0);

  constructor(path: string) {
    this.#path = path;
  }

  /** The entries of the next whole lines, or undefined at the end of the file for now. */
  async readEntries(): Promise<CriLogEntry[] | undefined> {
    if (this.#fh === undefined) {
      try {
        this.#fh = await open(this.#path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    }
    const size = await this.#size();
    if (size < this.#offset) {
      // Truncated (or replaced by a shorter file): start again.
      await this.#reopen();
    }
    const buf = Buffer.allocUnsafe(chunkSize);
    const { bytesRead } = await this.#fh.read(buf, 0, chunkSize, this.#offset);
    if (bytesRead === 0) return undefined;
    this.#offset += bytesRead;
    const data =
      this.#rest.length === 0
        ? buf.subarray(0, bytesRead)
        : Buffer.concat([this.#rest, buf.subarray(0, bytesRead)]);
    const end = data.lastIndexOf(10);
    if (end < 0) {
      this.#rest = Buffer.from(data);
      return [];
    }
    this.#rest = Buffer.from(data.subarray(end + 1));
    const entries: CriLogEntry[] = [];
    for (const line of data.subarray(0, end).toString('utf8').split('\n')) {
      const e = parseCriLine(line);
      if (e !== undefined) entries.push(e);
    }
    return entries;
  }

  async close(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
  }

  async #size(): Promise<number> {
    try {
      return (await stat(this.#path)).size;
    } catch {
      return this.#offset;
    }
  }

  async #reopen(): Promise<void> {
    await this.close();
    this.#offset = 0;
    this.#rest = Buffer.alloc(0);
    this.#fh = await open(this.#path, 'r');
  }
}
