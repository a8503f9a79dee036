/**
 * The CRI container log format, one entry per file line: `<RFC3339Nano time> <stdout|stderr> <P|F>
 * <message>` — `P` marks a partial line continued by the next entry, `F` a full line (the message
 * then had a newline, stripped in the file). Pure parsing and formatting, shared by the log reader
 * (log-reader.ts) and the runtimes that write the files themselves (runc's writer, the fake).
 */

export type LogStream = 'stdout' | 'stderr';

export interface CriLogEntry {
  /** The timestamp exactly as written (RFC3339Nano). */
  readonly time: string;
  /** The timestamp in ms since the epoch (sub-millisecond digits dropped). */
  readonly timeMs: number;
  readonly stream: LogStream;
  /** True for `P`: the line continues in the next entry. */
  readonly partial: boolean;
  readonly message: string;
}

/** Parses one file line (without its newline); undefined when it is not a CRI entry. */
export function parseCriLine(line: string): CriLogEntry | undefined {
  const a = line.indexOf(' ');
  if (a <= 0) return undefined;
  const b = line.indexOf(' ', a + 1);
  if (b < 0) return undefined;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  // The tag and the space after it; a message may be empty ("... F" with nothing after).
  const tag = line.slice(b + 1, b + 2);
  if (tag !== 'P' && tag !== 'F') return undefined;
  const time = line.slice(0, a);
  const timeMs = Date.parse(time);
  if (Number.isNaN(timeMs)) return undefined;
  return { time, timeMs, stream, partial: tag === 'P', message: line.slice(b + 3) };
}

/** Formats `ms` as RFC3339 with nine fractional digits, as runtimes write it. */
export function criTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-27T23:45:58.123Z
  return `${iso.slice(0, -1)}000000Z`;
}

/**
 * The file text for one chunk of output: one entry per line of `text`, `F` for lines that ended
 * with a newline and `P` for a trailing piece without one.
 */
export function formatCriEntries(ms: number, stream: LogStream, text: string): string {
  const time = criTimestamp(ms);
  const parts = text.split('\n');
  const last = parts.pop() ?? '';
  let out = '';
  for (const p of parts) out += `${time} ${stream} F ${p}\n`;
  if (last !== '') out += `${time} ${stream} P ${last}\n`;
  return out;
}
