/**
 * Container logs in the CRI log format, as the kubelet and `kubectl logs` expect them:
 *
 *     2026-11-27T23:59:59.123000000Z stdout F a whole line
 *     2026-11-27T23:59:59.123000000Z stderr P the first 16 KiB of a very long line…
 *
 * `F` ends a line; `P` is a piece of a longer one (a line over {@link maxLineBytes}), continued by the
 * next record of the same stream. Output left without a newline when a stream ends is written as `F`.
 * Timestamps come from the injected clock (millisecond resolution, padded to nine digits).
 *
 * Rotation by size (the kubelet's `containerLogMaxSize` / `containerLogMaxFiles`): when the file
 * passes `maxBytes` it is renamed to `<path>.<YYYYMMDD-HHMMSS>` (the kubelet's suffix) and a new one
 * started; only the newest `maxFiles - 1` rotated files are kept. Rotation happens between records,
 * so no line is split across files.
 *
 * `CriLogWriter` owns one container's log file; `pumpFifo` feeds it from one of the container's
 * FIFOs (one for stdout, one for stderr) without a thread per FIFO.
 */
import { constants, openSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import type { Clock } from '../../../lib/clock.js';
import type { Logger } from '../../../lib/logger.js';
import { criTimestamp, type LogStream } from '../../streams/cri-log.js';

/** Longest line written as one record; longer lines are split into `P` records (containerd: 16 KiB). */
export const maxLineBytes = 16 * 1024;

/**
 * Turns `chunk` (appended to `pending`, the previous chunk's unfinished line) into CRI records.
 * Returns the records and what is left unfinished. `final` flushes the rest as an `F` record.
 */
export function formatCriRecords(
  stream: LogStream,
  timestamp: string,
  pending: Buffer,
  chunk: Buffer,
  final = false,
): { records: Buffer; pending: Buffer } {
  let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
  const out: Buffer[] = [];
  const prefix = (tag: 'F' | 'P'): Buffer => Buffer.from(`${timestamp} ${stream} ${tag} `);
  for (;;) {
    const nl = buf.indexOf(0x0a);
    if (nl >= 0 && nl <= maxLineBytes) {
      out.push(prefix('F'), buf.subarray(0, nl + 1));
      buf = buf.subarray(nl + 1);
      continue;
    }
    if (buf.length > maxLineBytes) {
      out.push(prefix('P'), buf.subarray(0, maxLineBytes), Buffer.from('\n'));
      buf = buf.subarray(maxLineBytes);
      continue;
    }
    break;
  }
  if (final && buf.length > 0) {
    out.push(prefix('F'), buf, Buffer.from('\n'));
    buf = Buffer.alloc(0);
  }
  return { records: Buffer.concat(out), pending: Buffer.from(buf) };
}

/** `20261127-235959` (the kubelet's rotated-file suffix). */
export function rotationSuffix(ms: number): string {
  const d = new Date(ms).toISOString();
  return `${d.slice(0, 4)}${d.slice(5, 7)}${d.slice(8, 10)}-${d.slice(11, 13)}${d.slice(14, 16)}${d.slice(17, 19)}`;
}

export interface CriLogWriterOptions {
  readonly path: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Rotate when the file grows past this. Default 10 MiB. */
  readonly maxBytes?: number;
  /** Files kept, the live one included (so `maxFiles - 1` rotated). Default 2. */
  readonly maxFiles?: number;
}

/** Appends CRI records for both streams of one container to its log file, rotating it by size. */
export class CriLogWriter {
  readonly path: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxBytes: number;
  readonly #maxFiles: number;
  readonly #pending: Record<LogStream, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  #fh: FileHandle | undefined;
  #size = 0;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: CriLogWriterOptions) {
    this.path = opts.path;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.#maxFiles = Math.max(1, opts.maxFiles ?? 2);
  }

  /** Queues `chunk` of `stream`; `final` flushes an unfinished line (the stream ended). */
  write(stream: LogStream, chunk: Buffer, final = false): void {
    if (this.#closed) return;
    const r = formatCriRecords(stream, criTimestamp(this.#clock.now()), this.#pending[stream], chunk, final);
    this.#pending[stream] = r.pending;
    if (r.records.length === 0) return;
    this.#queue = this.#queue
      .then(() => this.#append(r.records))
      .catch((err: unknown) => {
        this.#logger.warn({ err, path: this.path }, 'container log write failed');
      });
  }

  /** Waits for queued writes. */
  flush(): Promise<void> {
    return this.#queue;
  }

  /** Flushes unfinished lines, waits for the writes and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return this.#queue;
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.#pending[s].length > 0) this.write(s, Buffer.alloc(0), true);
    }
    this.#closed = true;
    await this.#queue;
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close();
  }

  /** Writes whole records, rotating first whenever the next ones would not fit. */
  async #append(records: Buffer): Promise<void> {
    if (this.#fh === undefined) await this.#openFile();
    let rest = records;
    while (rest.length > 0) {
      const room = this.#maxBytes - this.#size;
      // The longest run of whole records that fits; at least one record in an empty file.
      let cut = rest.length <= room ? rest.length : rest.lastIndexOf(0x0a, room - 1) + 1;
      if (cut <= 0) {
        if (this.#size > 0) {
          await this.#rotate();
          continue;
        }
        cut = rest.indexOf(0x0a) + 1 || rest.length;
      }
      const fh = this.#fh;
      if (fh === undefined) return;
      await fh.write(rest.subarray(0, cut));
      this.#size += cut;
      rest = rest.subarray(cut);
    }
  }

  async #openFile(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o755 });
    // O_NOFOLLOW: the log directory is ours, but a planted symlink must not redirect root's writes.
    this.#fh = await open(
      this.path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o640,
    );
    this.#size = (await this.#fh.stat()).size;
  }

  async #rotate(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
    let target = `${this.path}.${rotationSuffix(this.#clock.now())}`;
    // Two rotations within one second: keep both.
    for (let n = 1; await exists(target); n++)
      target = `${this.path}.${rotationSuffix(this.#clock.now())}.${n}`;
    await rename(this.path, target);
    const prefix = `${basename(this.path)}.`;
    const rotated = (await readdir(dirname(this.path))).filter((f) => f.startsWith(prefix)).sort(byRotation);
    for (const old of rotated.slice(0, Math.max(0, rotated.length - (this.#maxFiles - 1)))) {
      await rm(join(dirname(this.path), old), { force: true });
    }
    await this.#openFile();
  }
}

/** Oldest first: by timestamp suffix, then by the counter of same-second rotations (`.1`, `.2`…, numerically). */
function byRotation(a: string, b: string): number {
  const key = (f: string): [string, number] => {
    const m = /\.(\d{8}-\d{6})(?:\.(\d+))?$/.exec(f);
    return [m?.[1] ?? '', Number(m?.[2] ?? 0)];
  };
  const [ta, na] = key(a);
  const [tb, nb] = key(b);
  return ta < tb ? -1 : ta > tb ? 1 : na - nb;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A running FIFO reader; `done` resolves at EOF (every writer gone) or after `close()`. */
export interface FifoPump {
  readonly done: Promise<void>;
  /** Stops reading (what is still in the pipe stays there). */
  close(): void;
}

/**
 * Reads the FIFO at `path` into `writer` as `stream`. Opened `O_RDONLY | O_NONBLOCK`, so it never waits
 * for a writer and the event loop (not a thread) does the reading. Linux reports EOF on such a FIFO
 * only once a writer that opened after us has gone: open it before starting the shim, or (adoption)
 * while the shim holds it.
 */
export function pumpFifo(path: string, stream: LogStream, writer: CriLogWriter): FifoPump {
  // Sync is fine: O_NONBLOCK makes the open immediate. The socket owns (and closes) the fd.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  const sock = new Socket({ fd, readable: true, writable: false });
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    writer.write(stream, Buffer.alloc(0), true);
    resolveDone();
  };
  // Log pumping alone must not keep the agent's process alive.
  sock.unref();
  sock.on('data', (chunk: Buffer) => {
    writer.write(stream, chunk);
  });
  sock.on('end', finish);
  sock.on('close', finish);
  sock.on('error', finish);
  return {
    done,
    close: () => {
      sock.destroy();
      finish();
    },
  };
}
