/**
 * Content digests (`algorithm:encoded`, OCI image-spec descriptor.md). Every digest that reaches a
 * file path, a URL or a comparison passes through `parseDigest` first, so that `sha256:../../x`,
 * uppercase hex or a wrong length never names a file (containerd validates before `checkBlobPath`
 * for the same reason). Only sha256 and sha512 are verifiable here; a grammatical digest with any
 * other algorithm is refused rather than treated as verified.
 */
import { createHash, type Hash } from 'node:crypto';

/** The algorithms whose content Berth can verify. */
export type DigestAlgorithm = 'sha256' | 'sha512';

/** A validated digest, split into its parts. `digest` is the canonical string. */
export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  /** Lower-case hex: 64 characters for sha256, 128 for sha512. */
  readonly hex: string;
  readonly digest: string;
}

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** Parses and validates `s`; undefined unless it is a sha256/sha512 digest with lower-case hex of the right length. */
export function parseDigest(s: string): ParsedDigest | undefined {
  const colon = s.indexOf(':');
  if (colon < 0) return undefined;
  const algorithm = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return undefined;
  if (hex.length !== hexLength[algorithm] || !/^[0-9a-f]+$/.test(hex)) return undefined;
  return { algorithm, hex, digest: s };
}

/** True when `s` is a digest `parseDigest` accepts. */
export function isDigest(s: string): boolean {
  return parseDigest(s) !== undefined;
}

/** The sha256 digest of `data`, as `sha256:<hex>`. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A running hash for a digest's algorithm; `finish()` returns the digest string. */
export class DigestHasher {
  readonly #algorithm: DigestAlgorithm;
  readonly #hash: Hash;
  #bytes = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.byteLength;
  }

  /** Bytes hashed so far. */
  get bytes(): number {
    return this.#bytes;
  }

  finish(): string {
    return `${this.#algorithm}:${this.#hash.digest('hex')}`;
  }
}

/** The digest of `data` under the same algorithm as `expected` (which must be valid). */
export function digestLike(expected: ParsedDigest, data: Uint8Array): string {
  const h = new DigestHasher(expected.algorithm);
  h.update(data);
  return h.finish();
}

/**
 * OCI chain IDs: `chain(0) = diffId(0)`, `chain(n) = sha256(chain(n-1) + " " + diffId(n))`. A chain ID
 * names a layer stack, so two images sharing their first layers share those snapshots.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let previous: string | undefined;
  for (const diffId of diffIds) {
    const next = previous === undefined ? diffId : sha256Digest(`${previous} ${diffId}`);
    out.push(next);
    previous = next;
  }
  return out;
}
