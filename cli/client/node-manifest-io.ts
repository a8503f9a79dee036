/**
 * The real {@link ManifestIO}: the local file system, the process's stdin, and HTTP(S) GETs for
 * `-f https://…` (following up to five redirects, failing on non-2xx as kubectl does).
 */

import { readdir, readFile, stat } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { ManifestIO } from './manifest-reader.js';

/** Reads all of the process's stdin as UTF-8. */
export async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A ManifestIO over the real file system and network; `readStdin` is injected. */
export function nodeManifestIO(readStdin: () => Promise<string>): ManifestIO {
  return {
    readFile: (path) => readFile(path, 'utf8'),
    kind: async (path) => {
      try {
        return (await stat(path)).isDirectory() ? 'dir' : 'file';
      } catch {
        return 'missing';
      }
    },
    readDir: (path) => readdir(path),
    readStdin,
    fetchUrl: (url) => fetchText(url, 5),
  };
}

function fetchText(url: string, redirects: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location !== undefined && redirects > 0) {
        res.resume();
        fetchText(new URL(location, url).toString(), redirects - 1).then(resolve, reject);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (status < 200 || status > 299) {
          reject(new Error(`server reported ${status} ${res.statusMessage ?? ''}, status code=${status}`));
        } else {
          resolve(Buffer.concat(chunks).toString('utf8'));
        }
      });
      res.on('error', reject);
    };
    const req = url.startsWith('https:') ? httpsGet(url, onResponse) : httpGet(url, onResponse);
    req.on('error', reject);
  });
}
