/**
 * What the watch cache keeps per object version and per event, and the bytes it sends. Each object
 * version's JSON is serialised once, on first use, and shared by every LIST and every watch line that
 * carries it; each event's watch line is built once per event type and shared by every watcher that
 * receives it (kube-apiserver's `cachingObject`). Everything here is immutable once built: callers
 * must not mutate the objects they get from the cache.
 */
import type { StoredObject } from '../../api/object.js';
import { apiVersionOf, type ResourceInfo } from '../../api/resources.js';

/** The event types an object change can become for one watcher. */
export type ObjectEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** The annotation on the BOOKMARK that ends a watch-list's initial events (`sendInitialEvents=true`). */
export const initialEventsEndAnnotation = 'k8s.io/initial-events-end';

const linePrefix: Readonly<Record<ObjectEventType, Buffer>> = {
  ADDED: Buffer.from('{"type":"ADDED","object":'),
  MODIFIED: Buffer.from('{"type":"MODIFIED","object":'),
  DELETED: Buffer.from('{"type":"DELETED","object":'),
};
const lineSuffix = Buffer.from('}\n');
const comma = Buffer.from(',');

/** One version of one object as the cache holds it: the decoded object and, once asked for, its JSON. */
export class CachedObject {
  readonly key: string;
  readonly object: StoredObject;
  /** The object's resourceVersion as a number. */
  readonly revision: number;
  #json: Buffer | undefined;

  constructor(key: string, object: StoredObject, revision: number) {
    this.key = key;
    this.object = object;
    this.revision = revision;
  }

  /** The object serialised as JSON (computed once). */
  get json(): Buffer {
    this.#json ??= Buffer.from(JSON.stringify(this.object));
    return this.#json;
  }

  get namespace(): string {
    return this.object.metadata.namespace ?? '';
  }

  /** The same content stamped with another resourceVersion (a deletion's, for DELETED events). */
  withRevision(revision: number): CachedObject {
    const object = {
      ...this.object,
      metadata: { ...this.object.metadata, resourceVersion: String(revision) },
    };
    return new CachedObject(this.key, object, revision);
  }
}

/** `{"type":T,"object":<json>}\n`: one watch line. */
export function eventLine(type: ObjectEventType, objectJson: Buffer): Buffer {
  return Buffer.concat([linePrefix[type], objectJson, lineSuffix]);
}

/**
 * One change of one object, in store order. `object` is what ADDED and MODIFIED carry (for a delete:
 * the last state stamped with the deletion's revision, as kube-apiserver sends it); `prev` is the
 * state before (absent for a create).
 */
export class CachedEvent {
  readonly type: ObjectEventType;
  readonly revision: number;
  readonly object: CachedObject;
  readonly prev: CachedObject | undefined;
  #prevAtRevision: CachedObject | undefined;
  readonly #lines: Partial<Record<ObjectEventType, Buffer>> = {};

  constructor(type: ObjectEventType, revision: number, object: CachedObject, prev?: CachedObject) {
    this.type = type;
    this.revision = revision;
    this.object = object;
    this.prev = prev;
  }

  get key(): string {
    return this.object.key;
  }

  /**
   * The object a watcher receives when this event is `type` for it. A MODIFIED event that makes an
   * object stop matching a watcher's selector is DELETED for that watcher and carries the *previous*
   * content at this event's revision (kube-apiserver's cacheWatcher does the same).
   */
  objectFor(type: ObjectEventType): CachedObject {
    if (type !== 'DELETED' || this.type === 'DELETED' || this.prev === undefined) return this.object;
    this.#prevAtRevision ??= this.prev.withRevision(this.revision);
    return this.#prevAtRevision;
  }

  /** The watch line for this event as `type`, built once and shared by every watcher. */
  line(type: ObjectEventType): Buffer {
    let line = this.#lines[type];
    if (line === undefined) {
      line = eventLine(type, this.objectFor(type).json);
      this.#lines[type] = line;
    }
    return line;
  }
}

/** A BOOKMARK line: an object of the resource's kind with only `metadata.resourceVersion` set. */
export function bookmarkLine(r: ResourceInfo, revision: number, initialEventsEnd = false): Buffer {
  const metadata = initialEventsEnd
    ? { resourceVersion: String(revision), annotations: { [initialEventsEndAnnotation]: 'true' } }
    : { resourceVersion: String(revision) };
  const object = { kind: r.kind, apiVersion: apiVersionOf(r), metadata };
  return Buffer.from(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
}

/** List metadata as LIST responses carry it. */
export interface ListMeta {
  readonly resourceVersion: string;
  readonly continue?: string;
  readonly remainingItemCount?: number;
}

/**
 * A JSON list response body built from the items' cached JSON: no object is serialised again, so a
 * LIST of many objects costs little more than copying their bytes.
 */
export function listBody(r: ResourceInfo, meta: ListMeta, items: readonly CachedObject[]): Buffer {
  const head = `{"apiVersion":${JSON.stringify(apiVersionOf(r))},"kind":${JSON.stringify(r.listKind)},"metadata":${JSON.stringify(meta)},"items":[`;
  const parts: Buffer[] = [Buffer.from(head)];
  for (let i = 0; i < items.length; i++) {
    if (i > 0) parts.push(comma);
    parts.push((items[i] as CachedObject).json);
  }
  parts.push(Buffer.from(']}'));
  return Buffer.concat(parts);
}
