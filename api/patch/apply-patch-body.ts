/**
 * The body of an `application/apply-patch+yaml` request: YAML (or JSON, which is YAML) holding the one
 * object to apply, as kubectl and client libraries send it.
 */

import { parseAllDocuments } from 'yaml';
import { isJsonObject, type JsonObject } from './json-value.js';
import { patchFailure, patchOk, type PatchResult } from './result.js';

/**
 * Parses an `application/apply-patch+yaml` body (YAML or JSON) into the object to apply: exactly one
 * document holding a mapping, else 400.
 */
export function parseApplyPatchBody(text: string): PatchResult<JsonObject> {
  // An empty body parses to an empty stream, which the count below rejects.
  const docs = parseAllDocuments(text);
  const nonEmpty = docs.filter((d) => d.contents !== null || d.errors.length > 0);
  if (nonEmpty.length !== 1 || nonEmpty[0] === undefined) {
    return patchFailure(
      'BadRequest',
      `apply patch must hold exactly one YAML document, got ${nonEmpty.length}`,
    );
  }
  const doc = nonEmpty[0];
  const error = doc.errors[0];
  if (error !== undefined) return patchFailure('BadRequest', `error decoding YAML: ${error.message}`);
  let value: unknown;
  try {
    // Throws on unresolved aliases and on alias expansion past maxAliasCount (a "billion laughs" body).
    value = doc.toJSON();
  } catch (err) {
    return patchFailure(
      'BadRequest',
      `error decoding YAML: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (!isJsonObject(value)) return patchFailure('BadRequest', 'apply patch must be a YAML or JSON object');
  return patchOk(value);
}
