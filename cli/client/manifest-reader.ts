/**
 * Reads the objects `-f` names, as kubectl's resource builder does: files, directories (their
 * `.json`, `.yaml` and `.yml` files in name order; subdirectories only with `-R`), `http(s)://`
 * URLs and `-` for stdin. Each source may hold several YAML documents (`---`) or JSON; `kind: List`
 * (and any `*List` with `items`) is flattened. Empty documents are skipped.
 *
 * File system and network access go through {@link ManifestIO} so the reader is testable.
 */

import { parseAllDocuments } from 'yaml';
import { extname, join } from 'node:path';
import { isJsonObject, type JsonObject } from '../../api/patch/json-value.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';

/** What the reader needs from the outside world. */
export interface ManifestIO {
  readFile(path: string): Promise<string>;
  /** Whether `path` is a directory, a file, or missing. */
  kind(path: string): Promise<'dir' | 'file' | 'missing'>;
  /** Entry names of a directory. */
  readDir(path: string): Promise<string[]>;
  readStdin(): Promise<string>;
  /** GET a URL's body; throws for non-2xx answers. */
  fetchUrl(url: string): Promise<string>;
}

/** One object and where it came from (a path, a URL or `STDIN`), for messages. */
export interface ManifestObject {
  readonly object: JsonObject;
  readonly source: string;
}

const extensions = new Set(['.json', '.yaml', '.yml']);

/** Reads every object named by `filenames` (each a path, URL or `-`), in order. */
export async function readManifests(
  filenames: readonly string[],
  opts: { recursive: boolean; io: ManifestIO },
): Promise<ManifestObject[]> {
  const out: ManifestObject[] = [];
  for (const name of filenames) {
    if (name === '-') {
      out.push(...parseManifests(await opts.io.readStdin(), 'STDIN'));
    } else if (/^https?:\/\//.test(name)) {
      let text: string;
      try {
        text = await opts.io.fetchUrl(name);
      } catch (err) {
        throw new BerthError(
          errorCodes.CONFIG_INVALID,
          `unable to read URL "${name}": ${errorMessage(err)}`,
          {
            cause: err,
          },
        );
      }
      out.push(...parseManifests(text, name));
    } else {
      for (const path of await expandPath(name, opts.recursive, true, opts.io)) {
        out.push(...parseManifests(await opts.io.readFile(path), path));
      }
    }
  }
  return out;
}

async function expandPath(path: string, recursive: boolean, top: boolean, io: ManifestIO): Promise<string[]> {
  const kind = await io.kind(path);
  if (kind === 'missing') {
    throw new BerthError(errorCodes.CONFIG_INVALID, `the path "${path}" does not exist`);
  }
  if (kind === 'file') return [path];
  if (!top && !recursive) return [];
  const files: string[] = [];
  for (const entry of (await io.readDir(path)).sort()) {
    const child = join(path, entry);
    const childKind = await io.kind(child);
    if (childKind === 'dir') files.push(...(await expandPath(child, recursive, false, io)));
    else if (childKind === 'file' && extensions.has(extname(entry))) files.push(child);
  }
  return files;
}

/**
 * Parses the documents of one source. Throws CONFIG_INVALID (naming the source) for YAML/JSON
 * syntax errors and for objects without `apiVersion` or `kind`.
 */
export function parseManifests(text: string, source: string): ManifestObject[] {
  const out: ManifestObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `error parsing ${source}: ${doc.errors.map((e) => e.message).join('; ')}`,
      );
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isJsonObject(value)) {
      throw new BerthError(errorCodes.CONFIG_INVALID, `error parsing ${source}: a document is not an object`);
    }
    for (const object of flattenList(value)) out.push({ object: checkTypeMeta(object, source), source });
  }
  return out;
}

function flattenList(obj: JsonObject): JsonObject[] {
  const kind = obj['kind'];
  const items = obj['items'];
  if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(items)) {
    return items.filter(isJsonObject).flatMap(flattenList);
  }
  return [obj];
}

function checkTypeMeta(obj: JsonObject, source: string): JsonObject {
  const missing = [
    typeof obj['apiVersion'] === 'string' && obj['apiVersion'] !== '' ? undefined : 'apiVersion not set',
    typeof obj['kind'] === 'string' && obj['kind'] !== '' ? undefined : 'kind not set',
  ].filter((m): m is string => m !== undefined);
  if (missing.length > 0) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `error validating "${source}": error validating data: [${missing.join(', ')}]`,
    );
  }
  return obj;
}
