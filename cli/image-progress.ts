/**
 * Pull progress for `berth image pull`: per-layer bars redrawn in place when stderr is a terminal
 * (like `docker pull`), and one line per finished layer otherwise, so logs stay readable. Written by
 * hand with ANSI escapes; a library such as `cli-progress` would do, but no new dependency is needed.
 */
import type { PullProgress } from '../agent/images/image-service.js';

export interface ProgressSink {
  write(s: string): void;
  readonly isTTY: boolean;
  readonly columns?: number;
}

function short(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** Bytes for people: `1.2 MB`, `340 kB`. Decimal units, as docker prints them. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u] ?? 'B'}`;
}

interface LayerState {
  done: number;
  total: number;
  phase: string;
}

/** Renders progress events; call `finish()` once the pull is over. */
export class PullProgressRenderer {
  readonly #out: ProgressSink;
  readonly #now: () => number;
  readonly #layers = new Map<string, LayerState>();
  #drawnLines = 0;
  #lastDraw = 0;
  #ref = '';

  constructor(out: ProgressSink, now: () => number) {
    this.#out = out;
    this.#now = now;
  }

  readonly onProgress = (p: PullProgress): void => {
    this.#ref = p.ref;
    if (p.layer === undefined) {
      if (!this.#out.isTTY && p.phase === 'resolving') this.#out.write(`Resolving ${p.ref}\n`);
      return;
    }
    const prev = this.#layers.get(p.layer);
    const phase = p.phase ?? 'downloading';
    this.#layers.set(p.layer, { done: p.bytesDone, total: p.bytesTotal, phase });
    if (!this.#out.isTTY) {
      if ((phase === 'done' || phase === 'exists') && prev?.phase !== phase) {
        this.#out.write(
          `${short(p.layer)}: ${phase === 'exists' ? 'already present' : `pulled ${formatBytes(p.bytesTotal)}`}\n`,
        );
      }
      return;
    }
    const now = this.#now();
    if (now - this.#lastDraw >= 100 || phase === 'done' || phase === 'exists') {
      this.#lastDraw = now;
      this.#draw();
    }
  };

  #draw(): void {
    const width = Math.max(10, Math.min(40, (this.#out.columns ?? 80) - 50));
    let s = this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}A` : '';
    const lines: string[] = [`Pulling ${this.#ref}`];
    for (const [digest, l] of this.#layers) {
      const frac = l.total > 0 ? Math.min(1, l.done / l.total) : 1;
      const filled = Math.round(frac * width);
      const bar = `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
      const label =
        l.phase === 'exists'
          ? 'Already exists'
          : l.phase === 'done'
            ? 'Pull complete'
            : l.phase === 'waiting'
              ? 'Waiting'
              : l.phase === 'committing'
                ? 'Committing'
                : `${bar} ${formatBytes(l.done)}/${formatBytes(l.total)}`;
      lines.push(`${short(digest)}: ${label}`);
    }
    for (const line of lines) s += `\x1b[2K${line}\n`;
    this.#drawnLines = lines.length;
    this.#out.write(s);
  }

  finish(): void {
    if (this.#out.isTTY && this.#layers.size > 0) this.#draw();
  }
}
