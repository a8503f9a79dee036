/**
 * Aligned text columns exactly as kubectl lays them out: a port of Go's `text/tabwriter` as forked
 * in github.com/liggitt/tabwriter (which kubectl uses), elastic tabstops included. kubectl's `get`
 * writer is `(minwidth 6, tabwidth 4, padding 3, ' ', RememberWidths)` and `describe`'s is
 * `(0, 8, 2, ' ', 0)`; matching the algorithm (not just "pad to the widest cell") is what makes
 * block boundaries — a line without a tab ends every column above it — come out the same.
 *
 * Cells are tab-terminated: text after the last tab of a line belongs to no column. Width is
 * counted in code points, as Go counts runes. Only the features kubectl uses are ported: no HTML
 * filtering, escapes, right alignment or tab padding.
 */

/** Layout parameters, named as in Go's `tabwriter.Writer.Init`. */
export interface TabWriterOptions {
  /** Minimal cell width including any padding. */
  readonly minWidth: number;
  /** Padding added to a cell before computing its width. */
  readonly padding: number;
  /**
   * Keep each column's widest width across flushes (liggitt/tabwriter `RememberWidths`), so rows
   * printed one at a time (`get -w`) stay aligned with the header printed before them.
   */
  readonly rememberWidths?: boolean;
}

/** kubectl's `printers.GetNewTabWriter` settings (used by `get`). */
export const getTabWriterOptions: TabWriterOptions = { minWidth: 6, padding: 3, rememberWidths: true };

/** kubectl's `describe` `tabbedString` settings (also `rollout history`). */
export const describeTabWriterOptions: TabWriterOptions = { minWidth: 0, padding: 2 };

interface Cell {
  readonly text: string;
  readonly width: number;
  readonly htab: boolean;
}

/**
 * Buffers written text and emits it aligned on {@link TabWriter.flush} (and, as Go does, whenever a
 * line with a single cell completes, since such a line cannot affect later alignment). Not
 * thread-safe; one writer per output stream.
 */
export class TabWriter {
  readonly #out: (text: string) => void;
  readonly #opts: TabWriterOptions;
  #lines: Cell[][] = [[]];
  #cell = '';
  #widths: number[] = [];
  #maxWidths: number[] = [];

  constructor(out: (text: string) => void, opts: TabWriterOptions) {
    this.#out = out;
    this.#opts = opts;
  }

  /** Appends text; `\t` and `\v` end a cell, `\n` and `\f` end a line (`\f` also flushes). */
  write(text: string): void {
    for (const ch of text) {
      if (ch === '\t' || ch === '\v' || ch === '\n' || ch === '\f') {
        const cells = this.#terminateCell(ch === '\t');
        if (ch === '\n' || ch === '\f') {
          this.#lines.push([]);
          if (ch === '\f' || cells === 1) this.flush();
        }
      } else {
        this.#cell += ch;
      }
    }
  }

  /** Writes out everything buffered; the last, unterminated line is written without a newline. */
  flush(): void {
    if (this.#cell !== '') this.#terminateCell(false);
    this.#format(0, this.#lines.length);
    this.#lines = [[]];
    this.#cell = '';
    this.#widths = [];
  }

  /** Forgets the widths remembered across flushes (kubectl does so between resource types). */
  resetRememberedWidths(): void {
    this.#maxWidths = [];
  }

  #terminateCell(htab: boolean): number {
    const line = this.#lines[this.#lines.length - 1];
    if (line === undefined) throw new Error('tabwriter: no current line');
    line.push({ text: this.#cell, width: codePoints(this.#cell), htab });
    this.#cell = '';
    return line.length;
  }

  #format(line0: number, line1: number): void {
    const column = this.#widths.length;
    let start = line0;
    for (let thisLine = line0; thisLine < line1; thisLine++) {
      const line = this.#lines[thisLine] ?? [];
      if (column >= line.length - 1) continue;
      // A cell exists in this column: print what came before, then measure the column block.
      this.#writeLines(start, thisLine);
      start = thisLine;
      let width = this.#opts.minWidth;
      for (; thisLine < line1; thisLine++) {
        const l = this.#lines[thisLine] ?? [];
        if (column >= l.length - 1) break;
        const c = l[column];
        if (c !== undefined && c.width + this.#opts.padding > width) width = c.width + this.#opts.padding;
      }
      if (this.#opts.rememberWidths === true) width = this.#rememberWidth(width);
      this.#widths.push(width);
      this.#format(start, thisLine);
      this.#widths.pop();
      start = thisLine;
    }
    this.#writeLines(start, line1);
  }

  #rememberWidth(width: number): number {
    const col = this.#widths.length;
    if (this.#maxWidths.length < col) this.#maxWidths.push(...this.#widths.slice(this.#maxWidths.length));
    const remembered = this.#maxWidths[col];
    if (remembered === undefined) {
      this.#maxWidths.push(width);
      return width;
    }
    if (remembered > width) return remembered;
    this.#maxWidths[col] = width;
    return width;
  }

  #writeLines(line0: number, line1: number): void {
    let text = '';
    for (let i = line0; i < line1; i++) {
      const line = this.#lines[i] ?? [];
      line.forEach((c, j) => {
        text += c.text;
        const w = this.#widths[j];
        if (w !== undefined) text += ' '.repeat(Math.max(0, w - c.width));
      });
      if (i + 1 < this.#lines.length) text += '\n';
    }
    if (text !== '') this.#out(text);
  }
}

/** Width as Go's tabwriter counts it: runes (code points), not UTF-16 units. */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate and its low surrogate are one code point.
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

/** Formats `text` through a fresh writer with `opts` and returns the aligned result. */
export function tabbedString(text: string, opts: TabWriterOptions = describeTabWriterOptions): string {
  let out = '';
  const w = new TabWriter((s) => (out += s), opts);
  w.write(text);
  w.flush();
  return out;
}
