/**
 * Reading requests and writing responses for the API server: bounded body reading (3 MiB, like
 * kube-apiserver; larger → 413), request-body decoding by Content-Type (JSON, YAML; protobuf → 415)
 * with the repeated keys field validation reports, and JSON / Status / Warning responses. Every error
 * a client sees is a Kubernetes `Status`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDocument } from 'yaml';
import { duplicateJsonFields, duplicateYamlFields } from '../../api/openapi/duplicate-fields.js';
import { isPlainObject } from '../../api/object.js';
import { ApiError, badRequest, tooLarge, unsupportedMediaType, type Status } from '../../api/status.js';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    req.resume();
    throw new ApiError(tooLarge(limit));
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new ApiError(tooLarge(limit));
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Decodes a request body into a JSON value according to its Content-Type. */
export function decodeBody(body: Buffer, contentType: string): unknown {
  return decodeBodyFields(body, contentType, false).value;
}

/** A decoded request body and the keys it repeats. */
export interface DecodedBody {
  readonly value: unknown;
  /** Paths of repeated keys (the last value is kept), for field validation; empty unless asked for. */
  readonly duplicates: readonly string[];
}

/**
 * Decodes a request body according to its Content-Type (JSON, or YAML for `*yaml` types; protobuf →
 * 415), reporting repeated keys when `findDuplicates` is set. Malformed input is a 400 Status.
 */
export function decodeBodyFields(body: Buffer, contentType: string, findDuplicates: boolean): DecodedBody {
  if (contentType.includes('protobuf')) {
    throw new ApiError(
      unsupportedMediaType(contentType, [
        'application/json',
        'application/yaml',
        'application/merge-patch+json',
        'application/strategic-merge-patch+json',
        'application/json-patch+json',
        'application/apply-patch+yaml',
      ]),
    );
  }
  const text = body.toString('utf8');
  if (text.trim() === '') throw new ApiError(badRequest('the request body is empty'));
  const json = (): DecodedBody => ({
    value: JSON.parse(text) as unknown,
    duplicates: findDuplicates ? duplicateJsonFields(text) : [],
  });
  if (contentType.endsWith('yaml')) {
    // Clients (kubectl --server-side, client-node) send JSON as their YAML; JSON.parse is much faster.
    if (/^\s*[{[]/.test(text)) {
      try {
        return json();
      } catch {
        // Not JSON after all: flow-style YAML. Parse it as YAML below.
      }
    }
    const doc = parseDocument(text, { uniqueKeys: false });
    const [error] = doc.errors;
    if (error !== undefined) {
      throw new ApiError(badRequest(`error decoding YAML: ${error.message}`), { cause: error });
    }
    return {
      value: doc.toJS() as unknown,
      duplicates: findDuplicates ? duplicateYamlFields(doc.contents) : [],
    };
  }
  try {
    return json();
  } catch (err) {
    throw new ApiError(badRequest(`error decoding request body as JSON: ${(err as Error).message}`), {
      cause: err,
    });
  }
}

/** A `Warning` response header value (RFC 7234 §5.5), as kube-apiserver sends one: `299 - "text"`. */
export function warningHeader(text: string): string {
  return `299 - "${text.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Adds one `Warning` header per distinct text (kubectl prints each as `Warning: <text>`). */
export function addWarnings(res: ServerResponse, texts: readonly string[]): void {
  if (texts.length === 0) return;
  res.setHeader('Warning', [...new Set(texts)].map(warningHeader));
}

/** Checks a decoded body is an object with metadata, the shape every create/update needs. */
export function requireObject(
  value: unknown,
): Record<string, unknown> & { metadata: Record<string, unknown> } {
  if (!isPlainObject(value)) throw new ApiError(badRequest('the request body must be a JSON object'));
  const metadata = value['metadata'] ?? {};
  if (!isPlainObject(metadata)) throw new ApiError(badRequest('metadata must be an object'));
  return { ...value, metadata };
}

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendStatus(res: ServerResponse, status: Status): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status.code, status);
}

export function sendText(
  res: ServerResponse,
  code: number,
  text: string,
  contentType = 'text/plain; charset=utf-8',
): void {
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
