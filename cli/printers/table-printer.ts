/**
 * Prints the server's `meta.k8s.io` Table the way kubectl's HumanReadablePrinter does: upper-cased
 * headers, priority-1 columns only with `-o wide`, a NAMESPACE column (from each row's
 * PartialObjectMetadata) with `-A`, `kind/name` names when several resource types are printed, a
 * LABELS column with `--show-labels`, an EVENT column with `--output-watch-events`, and headers
 * printed once per column set — watch events carry a one-row Table with no column definitions,
 * which reuses the last ones.
 *
 * Output goes through a {@link TabWriter} with kubectl's `get` settings; callers flush it.
 */

import { isJsonObject, type JsonObject, type JsonValue } from '../../api/patch/json-value.js';
import { formatLabels } from '../../api/table/labels.js';
import type { TabWriter } from './tabwriter.js';

/** How to decorate and filter the server's Table. */
export interface TablePrintOptions {
  /** `-o wide`: include priority > 0 columns. */
  readonly wide: boolean;
  /** `-A`: prepend NAMESPACE. */
  readonly withNamespace: boolean;
  /** When several types are printed: prefix names with this (`deployment.apps`). */
  readonly kindPrefix?: string;
  readonly noHeaders?: boolean;
  readonly showLabels?: boolean;
}

/** kubectl pads event types to one width so rows printed one at a time stay aligned. */
const formattedEventTypes: Readonly<Record<string, string>> = {
  ADDED: 'ADDED   ',
  MODIFIED: 'MODIFIED',
  DELETED: 'DELETED ',
  ERROR: 'ERROR   ',
};

interface Column {
  readonly name: string;
  readonly type: string;
  readonly format: string;
  readonly priority: number;
}

/** Stateful across calls, like kubectl's printer: it remembers which headers it has printed. */
export class TablePrinter {
  readonly #out: TabWriter;
  readonly #opts: TablePrintOptions;
  #lastColumns: Column[] = [];
  #printedHeaders = false;

  constructor(out: TabWriter, opts: TablePrintOptions) {
    this.#out = out;
    this.#opts = opts;
  }

  /** Prints `table`'s rows (and headers when due). Returns the number of rows printed. */
  print(table: JsonObject, eventType?: string): number {
    let columns = columnsOf(table['columnDefinitions']);
    const rows = Array.isArray(table['rows']) ? table['rows'].filter(isJsonObject) : [];
    let noHeaders = this.#opts.noHeaders === true;
    if (this.#printedHeaders && (columns.length === 0 || sameColumns(columns, this.#lastColumns)))
      noHeaders = true;
    if (columns.length === 0) {
      columns = this.#lastColumns;
    } else if (!sameColumns(columns, this.#lastColumns)) {
      this.#lastColumns = columns;
      this.#printedHeaders = false;
    }
    if (rows.length > 0) this.#printedHeaders = true;

    const visible = columns.map((c) => this.#opts.wide || c.priority === 0);
    const nameColumn = columns.findIndex((c) => c.format === 'name' && c.type === 'string');
    const headers = columns.filter((_, i) => visible[i] === true).map((c) => c.name.toUpperCase());
    if (this.#opts.withNamespace) headers.unshift('NAMESPACE');
    if (this.#opts.showLabels === true) headers.push('LABELS');
    if (eventType !== undefined) headers.unshift('EVENT');

    if (!noHeaders && rows.length > 0) this.#out.write(`${headers.join('\t')}\n`);
    for (const row of rows) {
      const raw = Array.isArray(row['cells']) ? row['cells'] : [];
      const cells: string[] = [];
      raw.forEach((cell, i) => {
        if (i >= columns.length || visible[i] !== true) return;
        let text = cellText(cell);
        if (i === nameColumn && this.#opts.kindPrefix !== undefined)
          text = `${this.#opts.kindPrefix}/${text}`;
        cells.push(text);
      });
      const meta = isJsonObject(row['object']) ? row['object']['metadata'] : undefined;
      const m = isJsonObject(meta) ? meta : undefined;
      if (this.#opts.withNamespace) cells.unshift(typeof m?.['namespace'] === 'string' ? m['namespace'] : '');
      if (this.#opts.showLabels === true) cells.push(formatLabels(m?.['labels']));
      if (eventType !== undefined) cells.unshift(formattedEventTypes[eventType] ?? eventType);
      this.#out.write(`${cells.join('\t')}\n`);
    }
    return rows.length;
  }
}

function columnsOf(v: JsonValue | undefined): Column[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isJsonObject).map((c) => ({
    name: typeof c['name'] === 'string' ? c['name'] : '',
    type: typeof c['type'] === 'string' ? c['type'] : '',
    format: typeof c['format'] === 'string' ? c['format'] : '',
    priority: typeof c['priority'] === 'number' ? c['priority'] : 0,
  }));
}

function sameColumns(a: readonly Column[], b: readonly Column[]): boolean {
  return (
    a.length === b.length &&
    a.every((c, i) => {
      const d = b[i];
      return (
        d !== undefined &&
        c.name === d.name &&
        c.type === d.type &&
        c.format === d.format &&
        c.priority === d.priority
      );
    })
  );
}

/**
 * One cell as kubectl prints it: strings cut at the first line break (with `...`), terminal escape
 * characters made visible, other values as Go's `fmt.Sprint`, null as nothing.
 */
export function cellText(cell: JsonValue | undefined): string {
  if (cell === null || cell === undefined) return '';
  if (typeof cell === 'string') {
    const cut = cell.search(/[\f\n\r]/);
    return escapeTerminal(cut < 0 ? cell : cell.slice(0, cut)) + (cut < 0 ? '' : '...');
  }
  if (typeof cell === 'object') return escapeTerminal(JSON.stringify(cell));
  return String(cell);
}

/** kubectl's `printers.WriteEscaped`: no raw escape sequences reach the terminal. */
export function escapeTerminal(s: string): string {
  return s.replaceAll('\u001b', '^[').replaceAll('\r', '\\r');
}
