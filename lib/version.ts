/**
 * Berth's own version, read once from package.json (found by walking up from this file, so it works
 * both from source under tsx and from the compiled `dist/`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface VersionInfo {
  readonly version: string;
  readonly node: string;
  readonly platform: string;
}

let cached: VersionInfo | undefined;

export function berthVersion(): VersionInfo {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  let version = '0.0.0-unknown';
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'berth' && typeof pkg.version === 'string') {
        version = pkg.version;
        break;
      }
    } catch {
      // not here; keep walking up
    }
    dir = dirname(dir);
  }
  cached = { version, node: process.version, platform: `${process.platform}/${process.arch}` };
  return cached;
}
