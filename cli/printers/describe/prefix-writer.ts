/**
 * The building blocks of kubectl's `describe` layout (k8s.io/kubectl/pkg/describe): a PrefixWriter
 * that indents by two spaces per level into a tab writer with describe's settings, and the helpers
 * every describer shares — multi-line labels and annotations (last-applied hidden, long values cut
 * at 140 characters), tolerations and taints, RFC 1123 timestamps and "time since".
 */

import { isJsonObject } from '../../../api/patch/json-value.js';
import { ageSince, parseTimestamp } from '../../../api/table/human-duration.js';
import { compare } from '../../../api/table/labels.js';
import { lastAppliedAnnotation } from '../../../api/patch/last-applied.js';
import { arr, at, num, rec, str } from '../../../api/table/json.js';
import { escapeTerminal } from '../table-printer.js';
import { describeTabWriterOptions, TabWriter } from '../tabwriter.js';

/** Indentation levels, two spaces each (kubectl's LEVEL_0 … LEVEL_4). */
export const LEVEL_0 = 0;
export const LEVEL_1 = 1;
export const LEVEL_2 = 2;
export const LEVEL_3 = 3;

/**
 * Writes indented text into a describe tab writer; {@link PrefixWriter.text} returns the result.
 * With `aligned: false` tabs are kept as they are — kubectl's `rollout history --revision` prints a
 * pod template through a bare PrefixWriter like that.
 */
export class PrefixWriter {
  #out = '';
  readonly #tw: TabWriter | undefined;

  constructor(opts: { aligned?: boolean } = {}) {
    this.#tw =
      opts.aligned === false ? undefined : new TabWriter((s) => (this.#out += s), describeTabWriterOptions);
  }

  /** Writes `text` after `level` indents (`Write(level, format, …)` with the format applied). */
  write(level: number, text: string): void {
    this.#emit(escapeTerminal('  '.repeat(level) + text));
  }

  /** Writes `text` and a newline with no indent (`WriteLine`). */
  writeLine(text: string): void {
    this.#emit(`${escapeTerminal(text)}\n`);
  }

  /** Ends the current column block (kubectl flushes before the Events table). */
  flush(): void {
    this.#tw?.flush();
  }

  /** Everything written, aligned. */
  text(): string {
    this.#tw?.flush();
    return this.#out;
  }

  #emit(text: string): void {
    if (this.#tw === undefined) this.#out += text;
    else this.#tw.write(text);
  }
}

/** Time, for ages; injected so output is testable. */
export interface DescribeContext {
  readonly now: number;
  /** Minutes east of UTC for timestamps (kubectl prints local time); default: this process's zone. */
  readonly utcOffsetMinutes?: number;
}

const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's `time.RFC1123Z` (`Mon, 02 Jan 2006 15:04:05 -0700`) of an RFC 3339 timestamp. */
export function rfc1123z(timestamp: unknown, ctx: DescribeContext): string {
  const ms = parseTimestamp(timestamp);
  // Go's zero time, which is what kubectl prints for an absent timestamp.
  if (ms === undefined) return 'Mon, 01 Jan 0001 00:00:00 +0000';
  const offset = ctx.utcOffsetMinutes ?? -new Date(ms).getTimezoneOffset();
  const d = new Date(ms + offset * 60_000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return (
    `${days[d.getUTCDay()] ?? ''}, ${pad(d.getUTCDate())} ${months[d.getUTCMonth()] ?? ''} ${d.getUTCFullYear()} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${sign}${pad(Math.trunc(abs / 60))}${pad(abs % 60)}`
  );
}

/** `translateTimestampSince`: human age, or `<unknown>`. */
export function since(timestamp: unknown, ctx: DescribeContext): string {
  return ageSince(timestamp, ctx.now);
}

function sortedEntries(v: unknown): [string, string][] {
  const r = rec(v);
  if (r === undefined) return [];
  return Object.entries(r)
    .filter((e): e is [string, string] => typeof e[1] === 'string')
    .sort(([a], [b]) => compare(a, b));
}

/** `printLabelsMultilineWithIndent`: `Title:\tk=v` with further pairs aligned under the first. */
export function printLabels(
  w: PrefixWriter,
  title: string,
  labels: unknown,
  initialIndent = '',
  innerIndent = '\t',
): void {
  w.write(LEVEL_0, `${initialIndent}${title}:${innerIndent}`);
  const entries = sortedEntries(labels);
  if (entries.length === 0) {
    w.writeLine('<none>');
    return;
  }
  entries.forEach(([k, v], i) => {
    if (i !== 0) w.write(LEVEL_0, `${initialIndent}${innerIndent}`);
    w.write(LEVEL_0, `${k}=${v}\n`);
  });
}

const maxAnnotationLen = 140;

/** `printAnnotationsMultiline`: like labels, without last-applied, long values wrapped and cut. */
export function printAnnotations(w: PrefixWriter, title: string, annotations: unknown): void {
  w.write(LEVEL_0, `${title}:\t`);
  const entries = sortedEntries(annotations).filter(([k]) => k !== lastAppliedAnnotation);
  if (entries.length === 0) {
    w.writeLine('<none>');
    return;
  }
  entries.forEach(([key, raw], i) => {
    if (i !== 0) w.write(LEVEL_0, '\t');
    const value = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    if (value.length + key.length + 2 > maxAnnotationLen || value.includes('\n')) {
      w.write(LEVEL_0, `${key}:\n`);
      for (const s of value.split('\n')) {
        const cut = s.length > maxAnnotationLen - 2 ? `${s.slice(0, maxAnnotationLen - 2)}...` : s;
        w.write(LEVEL_0, `\t  ${cut}\n`);
      }
    } else {
      w.write(LEVEL_0, `${key}: ${value}\n`);
    }
  });
}

/** `printTolerationsMultilineWithIndent`. */
export function printTolerations(
  w: PrefixWriter,
  title: string,
  tolerations: unknown,
  initialIndent = '',
): void {
  w.write(LEVEL_0, `${initialIndent}${title}:\t`);
  const list = arr(tolerations)
    .filter(isJsonObject)
    .sort((a, b) => compare(str(a['key']) ?? '', str(b['key']) ?? ''));
  if (list.length === 0) {
    w.writeLine('<none>');
    return;
  }
  list.forEach((t, i) => {
    if (i !== 0) w.write(LEVEL_0, `${initialIndent}\t`);
    const key = str(t['key']) ?? '';
    const value = str(t['value']) ?? '';
    const effect = str(t['effect']) ?? '';
    let text = key;
    if (value !== '') text += `=${value}`;
    if (effect !== '') text += `:${effect}`;
    if (t['operator'] === 'Exists' && value === '')
      text += key !== '' || effect !== '' ? ' op=Exists' : 'op=Exists';
    const seconds = num(t['tolerationSeconds']);
    if (seconds !== undefined) text += ` for ${seconds}s`;
    w.write(LEVEL_0, `${text}\n`);
  });
}

/** `printTaintsMultilineWithIndent` (taint `key=value:Effect`, sorted by effect then key). */
export function printTaints(w: PrefixWriter, title: string, taints: unknown): void {
  w.write(LEVEL_0, `${title}:\t`);
  const list = arr(taints)
    .filter(isJsonObject)
    .map((t) => ({ key: str(t['key']) ?? '', value: str(t['value']) ?? '', effect: str(t['effect']) ?? '' }))
    .sort((a, b) => compare(`${a.effect},${a.key}`, `${b.effect},${b.key}`));
  if (list.length === 0) {
    w.writeLine('<none>');
    return;
  }
  list.forEach((t, i) => {
    if (i !== 0) w.write(LEVEL_0, '\t');
    w.write(LEVEL_0, `${t.key}${t.value === '' ? '' : `=${t.value}`}:${t.effect}\n`);
  });
}

/** `Kind/name` of the object's controller owner reference, or `''`. */
export function controllerOf(obj: unknown): string {
  const owner = arr(at(obj, 'metadata', 'ownerReferences')).find((o) => at(o, 'controller') === true);
  return owner === undefined ? '' : `${str(at(owner, 'kind')) ?? ''}/${str(at(owner, 'name')) ?? ''}`;
}

/** A value as Go's `%v` prints it, `<none>`-free. */
export function v(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
