/**
 * Parsing of HTTP `Accept` headers into media ranges with parameters. Kubernetes negotiates on media
 * type *parameters* (`as=Table;g=meta.k8s.io;v=v1`, `as=APIGroupDiscoveryList;v=v2`), which general
 * negotiation libraries treat loosely, so the API server's choices (discovery form, Table or not) are
 * made from this small exact parser instead.
 */

/** One entry of an Accept header. Type, subtype and parameter names are lower-cased. */
export interface MediaRange {
  readonly type: string;
  readonly subtype: string;
  /** Parameters other than `q`, values unquoted and case preserved. */
  readonly params: Readonly<Record<string, string>>;
  /** Quality, 0–1; 1 when absent or unparsable. */
  readonly q: number;
}

/**
 * Parses `accept` into media ranges, best first: by descending `q`, ties keeping header order (the
 * order kubectl uses to state its preference). Malformed entries are skipped; ranges with `q=0` are
 * dropped. A missing or empty header yields `*\/*`, as HTTP specifies.
 */
export function parseAccept(accept: string | undefined): MediaRange[] {
  if (accept === undefined || accept.trim() === '') return [{ type: '*', subtype: '*', params: {}, q: 1 }];
  const ranges: MediaRange[] = [];
  for (const entry of splitOutsideQuotes(accept, ',')) {
    const [mediaType = '', ...rawParams] = splitOutsideQuotes(entry, ';');
    const slash = mediaType.indexOf('/');
    if (slash <= 0) continue;
    const type = mediaType.slice(0, slash).trim().toLowerCase();
    const subtype = mediaType
      .slice(slash + 1)
      .trim()
      .toLowerCase();
    if (type === '' || subtype === '') continue;
    const params: Record<string, string> = {};
    let q = 1;
    for (const raw of rawParams) {
      const eq = raw.indexOf('=');
      if (eq <= 0) continue;
      const name = raw.slice(0, eq).trim().toLowerCase();
      let value = raw.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (name === 'q') {
        const parsed = Number(value);
        q = Number.isFinite(parsed) && parsed >= 0 && parsed <= 1 ? parsed : 1;
      } else {
        params[name] = value;
      }
    }
    if (q > 0) ranges.push({ type, subtype, params, q });
  }
  // Array.prototype.sort is stable, so equal q keeps header order.
  return ranges.sort((a, b) => b.q - a.q);
}

/** Whether `range` accepts the concrete `type/subtype` (wildcards allowed in the range). */
export function rangeMatches(range: MediaRange, type: string, subtype: string): boolean {
  return (range.type === '*' || range.type === type) && (range.subtype === '*' || range.subtype === subtype);
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}
