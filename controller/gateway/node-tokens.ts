/**
 * Node join tokens: which exist, creating and revoking them, and checking one at join time. The data
 * dir is the source of truth and is read on every check, so `berth token create|revoke` (which edit
 * the files directly) take effect on the next join without restarting the server.
 *
 *   DATA_DIR/node-token        K10<ca hash>::server:<secret>, the default token (server-secrets.ts
 *                              writes it; kept in clear because operators copy it to agents)
 *   DATA_DIR/node-tokens.json  0600, created tokens — only the SHA-256 of each secret is kept — and
 *                              the hashes of revoked default-token secrets
 *
 * A created token reads `K10<ca hash>::<id>:<secret>`: `<id>` (6 hex characters) names it in
 * `berth token list` and `revoke`, `<secret>` proves it. Revoking the default token records its
 * secret's hash, so removing DATA_DIR/node-token and restarting the server (which writes a new
 * secret) brings a working default token back.
 *
 * Concurrent `berth token` commands can lose one another's edit (last writer wins); each write is
 * atomic, so the file is never half-written.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import { caCertHash, formatNodeToken, nodeTokenUser, parseNodeToken } from '../../lib/pki/node-token.js';
import { generateToken, tokenHash } from '../../lib/pki/tokens.js';
import { writeFileAtomic } from '../../lib/atomic-write.js';

/** The id under which the default token (DATA_DIR/node-token) is listed. */
export const defaultTokenId = nodeTokenUser;

export interface NodeTokenInfo {
  /** `server` for the default token, else the 6-hex-character id of a created token. */
  readonly id: string;
  readonly kind: 'default' | 'created';
  readonly description: string;
  /** RFC 3339; undefined when not known (the default token). */
  readonly createdAt?: string;
  /** RFC 3339; undefined for a token that does not expire. */
  readonly expiresAt?: string;
  readonly state: 'valid' | 'expired' | 'revoked';
}

/** The outcome of checking a token: the id of the token that matched, or why none did. */
export type TokenVerdict =
  { readonly ok: true; readonly id: string } | { readonly ok: false; readonly reason: string };

export interface CreateTokenOptions {
  readonly description?: string;
  /** Lifetime in milliseconds; absent for a token that never expires. */
  readonly ttlMs?: number;
}

interface StoredToken {
  id: string;
  secretSha256: string;
  description: string;
  createdAt: string;
  expiresAt?: string;
}

interface TokensFile {
  tokens: StoredToken[];
  revokedDefaultSecrets: string[];
}

/** Reads and edits the join tokens of one data dir. Stateless: every call reads the files. */
export class NodeTokenStore {
  readonly #dataDir: string;
  readonly #clock: Clock;

  constructor(opts: { readonly dataDir: string; readonly clock: Clock }) {
    this.#dataDir = opts.dataDir;
    this.#clock = opts.clock;
  }

  get #tokensPath(): string {
    return join(this.#dataDir, 'node-tokens.json');
  }

  get #defaultTokenPath(): string {
    return join(this.#dataDir, 'node-token');
  }

  /** Every token, the default one first. Throws `CONFIG_INVALID` when a file cannot be read. */
  async list(): Promise<NodeTokenInfo[]> {
    const file = await this.#readTokens();
    const out: NodeTokenInfo[] = [];
    const secret = await this.#defaultSecret();
    if (secret !== undefined) {
      out.push({
        id: defaultTokenId,
        kind: 'default',
        description: `the server's token (${this.#defaultTokenPath})`,
        state: file.revokedDefaultSecrets.includes(tokenHash(secret)) ? 'revoked' : 'valid',
      });
    }
    for (const t of file.tokens) {
      out.push({
        id: t.id,
        kind: 'created',
        description: t.description,
        createdAt: t.createdAt,
        ...(t.expiresAt === undefined ? {} : { expiresAt: t.expiresAt }),
        state: this.#expired(t) ? 'expired' : 'valid',
      });
    }
    return out;
  }

  /**
   * Creates a token and returns it in full — the only time its secret is visible; only its hash is
   * stored. Needs the cluster CA (DATA_DIR/pki/ca.crt), i.e. a server that has started once.
   */
  async create(opts: CreateTokenOptions = {}): Promise<{ token: string; info: NodeTokenInfo }> {
    if (opts.ttlMs !== undefined && (!Number.isFinite(opts.ttlMs) || opts.ttlMs <= 0)) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `token lifetime must be positive, got ${opts.ttlMs} ms`,
      );
    }
    const caPem = await this.#readCa();
    const file = await this.#readTokens();
    const taken = new Set([defaultTokenId, ...file.tokens.map((t) => t.id)]);
    let id: string;
    do id = randomBytes(3).toString('hex');
    while (taken.has(id));
    const secret = generateToken();
    const now = this.#clock.now();
    const stored: StoredToken = {
      id,
      secretSha256: tokenHash(secret),
      description: opts.description ?? '',
      createdAt: rfc3339(now),
      ...(opts.ttlMs === undefined ? {} : { expiresAt: rfc3339(now + opts.ttlMs) }),
    };
    file.tokens.push(stored);
    await this.#writeTokens(file);
    const info: NodeTokenInfo = {
      id,
      kind: 'created',
      description: stored.description,
      createdAt: stored.createdAt,
      ...(stored.expiresAt === undefined ? {} : { expiresAt: stored.expiresAt }),
      state: 'valid',
    };
    return { token: formatNodeToken(caPem, secret, id), info };
  }

  /**
   * Revokes the token `id` (`server` for the default token). False when there is no such token, or
   * it is already revoked. Certificates already issued with it stay valid: revoking stops new joins.
   */
  async revoke(id: string): Promise<boolean> {
    const file = await this.#readTokens();
    if (id === defaultTokenId) {
      const secret = await this.#defaultSecret();
      if (secret === undefined) return false;
      const hash = tokenHash(secret);
      if (file.revokedDefaultSecrets.includes(hash)) return false;
      file.revokedDefaultSecrets.push(hash);
    } else {
      const before = file.tokens.length;
      file.tokens = file.tokens.filter((t) => t.id !== id);
      if (file.tokens.length === before) return false;
    }
    await this.#writeTokens(file);
    return true;
  }

  /**
   * Checks a token as an agent presented it. A `K10` token must name this cluster's CA; its user part
   * selects the token (`server` = the default one). A bare secret is compared with every valid token.
   * Comparisons are on SHA-256 hashes in constant time.
   */
  async verify(text: string): Promise<TokenVerdict> {
    const parsed = parseNodeToken(text);
    if (parsed === undefined) return { ok: false, reason: 'not a join token' };
    if (parsed.caHash !== undefined) {
      const caHash = caCertHash(await this.#readCa());
      if (!hashesEqual(parsed.caHash, caHash)) {
        return { ok: false, reason: "the token names another cluster's CA" };
      }
    }
    const presented = tokenHash(parsed.secret);
    const file = await this.#readTokens();
    const candidates: { id: string; hash: string; expired: boolean }[] = [];
    const secret = await this.#defaultSecret();
    if (secret !== undefined && !file.revokedDefaultSecrets.includes(tokenHash(secret))) {
      candidates.push({ id: defaultTokenId, hash: tokenHash(secret), expired: false });
    }
    for (const t of file.tokens)
      candidates.push({ id: t.id, hash: t.secretSha256, expired: this.#expired(t) });
    const wanted = parsed.user;
    for (const c of candidates) {
      if (wanted !== undefined && c.id !== wanted) continue;
      if (!hashesEqual(c.hash, presented)) continue;
      return c.expired ? { ok: false, reason: `token ${c.id} has expired` } : { ok: true, id: c.id };
    }
    return { ok: false, reason: 'unknown or revoked token' };
  }

  #expired(t: StoredToken): boolean {
    return t.expiresAt !== undefined && Date.parse(t.expiresAt) <= this.#clock.now();
  }

  async #defaultSecret(): Promise<string | undefined> {
    const text = await readOptional(this.#defaultTokenPath);
    if (text === undefined) return undefined;
    const parsed = parseNodeToken(text);
    if (parsed === undefined) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `${this.#defaultTokenPath}: not a node token: remove it and restart the server to generate a new one`,
      );
    }
    return parsed.secret;
  }

  async #readCa(): Promise<string> {
    const path = join(this.#dataDir, 'pki', 'ca.crt');
    const pem = await readOptional(path);
    if (pem === undefined) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `${path}: missing: start \`berth server --data-dir ${this.#dataDir}\` once to create the cluster CA`,
      );
    }
    return pem;
  }

  async #readTokens(): Promise<TokensFile> {
    const path = this.#tokensPath;
    const text = await readOptional(path);
    if (text === undefined) return { tokens: [], revokedDefaultSecrets: [] };
    try {
      return parseTokensFile(JSON.parse(text));
    } catch (err) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `${path}: ${errorMessage(err)}: fix the file, or remove it (every created token is lost)`,
        { cause: err },
      );
    }
  }

  async #writeTokens(file: TokensFile): Promise<void> {
    const path = this.#tokensPath;
    try {
      await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, 0o600);
    } catch (err) {
      throw new BerthError(errorCodes.CONFIG_INVALID, `write ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

function parseTokensFile(raw: unknown): TokensFile {
  if (typeof raw !== 'object' || raw === null) throw new Error('not a JSON object');
  const obj = raw as { tokens?: unknown; revokedDefaultSecrets?: unknown };
  const tokens = Array.isArray(obj.tokens) ? obj.tokens : [];
  const revoked = Array.isArray(obj.revokedDefaultSecrets) ? obj.revokedDefaultSecrets : [];
  return {
    tokens: tokens.map((t, i) => {
      const e = t as Partial<Record<keyof StoredToken, unknown>>;
      if (typeof e.id !== 'string' || typeof e.secretSha256 !== 'string') {
        throw new Error(`tokens[${i}]: id and secretSha256 are required`);
      }
      return {
        id: e.id,
        secretSha256: e.secretSha256,
        description: typeof e.description === 'string' ? e.description : '',
        createdAt: typeof e.createdAt === 'string' ? e.createdAt : '',
        ...(typeof e.expiresAt === 'string' ? { expiresAt: e.expiresAt } : {}),
      };
    }),
    revokedDefaultSecrets: revoked.filter((h): h is string => typeof h === 'string'),
  };
}

function hashesEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BerthError(errorCodes.CONFIG_INVALID, `read ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
