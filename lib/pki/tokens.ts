/**
 * Bearer tokens and shared secrets: generation, the hash to store when only verification is needed,
 * and constant-time comparison. Tokens are 32 random bytes as 64 lower-case hex characters (k3s
 * style): safe in YAML, URLs, HTTP headers and shell without quoting.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of randomness in a token. */
export const tokenBytes = 32;

/** A new random token: 64 hex characters from the OS CSPRNG. */
export function generateToken(): string {
  return randomBytes(tokenBytes).toString('hex');
}

/** SHA-256 of the token (UTF-8), lower-case hex: what to store when the token itself need not be kept. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Whether two tokens are equal, in time that does not depend on where they differ. Both sides are
 * hashed first so that neither the comparison nor an early length check leaks the secret's length.
 */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
