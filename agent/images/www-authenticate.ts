/**
 * Parses `WWW-Authenticate` challenges (RFC 9110 §11.6.1): one or more `scheme param=value, …`
 * challenges in one header value (several headers arrive joined with ", "). Registries send
 * `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"[,error="insufficient_scope"]`.
 */

export interface AuthChallenge {
  /** Lower-cased scheme: `basic`, `bearer`, … */
  readonly scheme: string;
  /** Parameters with lower-cased names. */
  readonly params: Readonly<Record<string, string>>;
}

const tokenChar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** All challenges in a header value; malformed tails are dropped, never thrown. */
export function parseWwwAuthenticate(header: string | null | undefined): AuthChallenge[] {
  if (header === null || header === undefined) return [];
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && tokenChar.test(header[i] ?? '')) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    // header[i] === '"'
    i++;
    let s = '';
    while (i < n && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < n) i++;
      s += header[i] ?? '';
      i++;
    }
    i++; // closing quote
    return s;
  };

  while (i < n) {
    skipWs();
    while (i < n && header[i] === ',') {
      i++;
      skipWs();
    }
    if (i >= n) break;
    const scheme = readToken();
    if (scheme === '') break;
    const current = { scheme: scheme.toLowerCase(), params: {} as Record<string, string> };
    out.push(current);
    // Parameters until a token that is not followed by '=' (the next scheme).
    for (;;) {
      skipWs();
      while (i < n && header[i] === ',') {
        i++;
        skipWs();
      }
      if (i >= n) break;
      const save = i;
      const name = readToken();
      skipWs();
      if (name === '' || header[i] !== '=') {
        i = save;
        break;
      }
      i++; // '='
      skipWs();
      const value = header[i] === '"' ? readQuoted() : readToken();
      current.params[name.toLowerCase()] = value;
    }
  }
  return out;
}
