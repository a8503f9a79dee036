/**
 * Reading requests and writing responses for the API server: bounded body reading (3 MiB, like
 * kube-apiserver; larger → 413), request-body decoding by Content-Type (JSON, YAML; protobuf → 415),
 * and JSON / Status responses. Every error a client sees is a Kubernetes `Status`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
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
  if (contentType.endsWith('yaml')) {
    try {
      return parseYaml(text) as unknown;
    } catch (err) {
      throw new ApiError(badRequest(`error decoding YAML: ${(err as Error).message}`), { cause: err });
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiError(badRequest(`error decoding request body as JSON: ${(err as Error).message}`), {
      cause: err,
    });
  }
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
