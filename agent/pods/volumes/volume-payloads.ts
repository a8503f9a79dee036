/**
 * What goes into configMap, secret, downwardAPI and projected volumes: from the volume's spec and the
 * objects it names, the files to publish (path → bytes + mode), with the kubelet's rules —
 *
 * - every key as a file, or only the `items` listed (`key` → `path`, with an optional per-item
 *   `mode`); a listed key that the object lacks is an error unless the source is `optional`;
 * - a missing object is an error (`configmap "x" not found`, the kubelet's wording) unless
 *   `optional`, when the volume is simply empty;
 * - file mode: the item's `mode`, else the volume's `defaultMode`, else 0644;
 * - ConfigMap `data` is text and `binaryData` base64; Secret `data` is base64 (`stringData`, which
 *   the API server folds into `data`, is read too in case an object was stored without that step);
 * - downward API: `metadata.name|namespace|uid`, `metadata.labels|annotations` (sorted `k="v"`
 *   lines, the kubelet's FormatMap) or one `metadata.labels['k']`, and `resourceFieldRef`s.
 *
 * Pure: objects are fetched by the caller (volume-manager.ts).
 */
import {
  asArray,
  asNumber,
  asObject,
  asString,
  type JsonObject,
} from '../../../api/validation/json-access.js';
import { toMilliValue, toValue } from '../../../api/validation/quantity.js';
import type { ObjectKind } from '../../object-source.js';
import type { ContainerSpec, PodView } from '../pod-spec.js';
import { invalidPayloadPath, type PayloadFile } from './atomic-writer.js';

/** The kubelet's default mode for configMap, secret, downwardAPI and projected files. */
export const defaultFileMode = 0o644;

/** A payload, or why the volume cannot be set up (the FailedMount message). */
export type PayloadResult =
  | { readonly ok: true; readonly files: Map<string, PayloadFile> }
  | { readonly ok: false; readonly message: string };

/** Looks up an object fetched for this volume: the object, or `undefined` if it does not exist. */
export type ObjectLookup = (kind: ObjectKind, name: string) => JsonObject | undefined;

/** An object a volume source needs, for the caller to fetch. */
export interface ObjectRef {
  readonly kind: ObjectKind;
  readonly name: string;
}

/** The ConfigMaps and Secrets a volume reads (none for other kinds). */
export function volumeObjectRefs(volume: JsonObject): ObjectRef[] {
  const out: ObjectRef[] = [];
  const cm = asObject(volume['configMap']);
  if (cm !== undefined) out.push({ kind: 'ConfigMap', name: asString(cm['name']) });
  const secret = asObject(volume['secret']);
  if (secret !== undefined) out.push({ kind: 'Secret', name: asString(secret['secretName']) });
  for (const s of asArray(asObject(volume['projected'])?.['sources'])) {
    const src = asObject(s) ?? {};
    const pcm = asObject(src['configMap']);
    if (pcm !== undefined) out.push({ kind: 'ConfigMap', name: asString(pcm['name']) });
    const ps = asObject(src['secret']);
    if (ps !== undefined) out.push({ kind: 'Secret', name: asString(ps['name']) });
  }
  return out;
}

/** The decoded key → bytes of a ConfigMap or Secret. */
export function objectData(kind: ObjectKind, obj: JsonObject): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  if (kind === 'ConfigMap') {
    for (const [k, v] of Object.entries(asObject(obj['data']) ?? {}))
      out.set(k, Buffer.from(asString(v), 'utf8'));
    for (const [k, v] of Object.entries(asObject(obj['binaryData']) ?? {}))
      out.set(k, Buffer.from(asString(v), 'base64'));
  } else {
    for (const [k, v] of Object.entries(asObject(obj['data']) ?? {}))
      out.set(k, Buffer.from(asString(v), 'base64'));
    for (const [k, v] of Object.entries(asObject(obj['stringData']) ?? {}))
      out.set(k, Buffer.from(asString(v), 'utf8'));
  }
  return out;
}

/** The kubelet's NotFound wording: `configmap "x" not found`, `secret "x" not found`. */
export function notFoundMessage(kind: ObjectKind, name: string): string {
  return `${kind.toLowerCase()} "${name}" not found`;
}

/** Files of a configMap or secret source (a volume's, or one projected source). */
export function keyedPayload(
  kind: ObjectKind,
  source: JsonObject,
  name: string,
  obj: JsonObject | undefined,
  defaultMode: number,
  into: Map<string, PayloadFile>,
): string | undefined {
  const optional = source['optional'] === true;
  if (obj === undefined) return optional ? undefined : notFoundMessage(kind, name);
  const data = objectData(kind, obj);
  const items = asArray(source['items']);
  if (items.length === 0) {
    for (const [k, v] of data) {
      const why = invalidPayloadPath(k);
      if (why !== undefined) return `invalid key "${k}" in ${kind} ${name}: ${why}`;
      into.set(k, { data: v, mode: defaultMode });
    }
    return undefined;
  }
  for (const it of items) {
    const item = asObject(it) ?? {};
    const key = asString(item['key']);
    const path = asString(item['path']);
    const v = data.get(key);
    if (v === undefined) {
      if (optional) continue;
      return `${kind.toLowerCase()} references non-existent ${kind === 'ConfigMap' ? 'config ' : 'secret '}key: ${key}`;
    }
    const why = invalidPayloadPath(path);
    if (why !== undefined) return `invalid path "${path}" for key ${key}: ${why}`;
    into.set(path, { data: v, mode: modeOf(item['mode'], defaultMode) });
  }
  return undefined;
}

/** Files of a downwardAPI source (a volume's, or one projected source). */
export function downwardPayload(
  pod: PodView,
  source: JsonObject,
  defaultMode: number,
  into: Map<string, PayloadFile>,
): string | undefined {
  for (const it of asArray(source['items'])) {
    const item = asObject(it) ?? {};
    const path = asString(item['path']);
    const why = invalidPayloadPath(path);
    if (why !== undefined) return `invalid downwardAPI path "${path}": ${why}`;
    let value: string | undefined;
    const fieldRef = asObject(item['fieldRef']);
    const resourceRef = asObject(item['resourceFieldRef']);
    if (fieldRef !== undefined) {
      value = downwardVolumeField(pod, asString(fieldRef['fieldPath']));
      if (value === undefined)
        return `unsupported downwardAPI fieldPath "${asString(fieldRef['fieldPath'])}"`;
    } else if (resourceRef !== undefined) {
      const container = pod.containers.find((c) => c.name === asString(resourceRef['containerName']));
      if (container === undefined)
        return `downwardAPI resourceFieldRef names no container "${asString(resourceRef['containerName'])}"`;
      value = resourceFieldValue(container, asString(resourceRef['resource']), resourceRef['divisor']);
      if (value === undefined)
        return `unsupported downwardAPI resource "${asString(resourceRef['resource'])}"`;
    } else {
      return `downwardAPI item "${path}" has neither fieldRef nor resourceFieldRef`;
    }
    into.set(path, { data: Buffer.from(value, 'utf8'), mode: modeOf(item['mode'], defaultMode) });
  }
  return undefined;
}

/**
 * The whole payload of a configMap, secret, downwardAPI or projected volume, given the objects it
 * references (`lookup`). Undefined for other volume kinds.
 */
export function volumePayload(
  pod: PodView,
  volume: JsonObject,
  lookup: ObjectLookup,
): PayloadResult | undefined {
  const files = new Map<string, PayloadFile>();
  const result = (err: string | undefined): PayloadResult =>
    err === undefined ? { ok: true, files } : { ok: false, message: err };
  const cm = asObject(volume['configMap']);
  if (cm !== undefined) {
    const name = asString(cm['name']);
    return result(
      keyedPayload(
        'ConfigMap',
        cm,
        name,
        lookup('ConfigMap', name),
        modeOf(cm['defaultMode'], defaultFileMode),
        files,
      ),
    );
  }
  const secret = asObject(volume['secret']);
  if (secret !== undefined) {
    const name = asString(secret['secretName']);
    return result(
      keyedPayload(
        'Secret',
        secret,
        name,
        lookup('Secret', name),
        modeOf(secret['defaultMode'], defaultFileMode),
        files,
      ),
    );
  }
  const downward = asObject(volume['downwardAPI']);
  if (downward !== undefined)
    return result(downwardPayload(pod, downward, modeOf(downward['defaultMode'], defaultFileMode), files));
  const projected = asObject(volume['projected']);
  if (projected !== undefined) {
    const mode = modeOf(projected['defaultMode'], defaultFileMode);
    for (const s of asArray(projected['sources'])) {
      const src = asObject(s) ?? {};
      const pcm = asObject(src['configMap']);
      const ps = asObject(src['secret']);
      const pd = asObject(src['downwardAPI']);
      let err: string | undefined;
      if (pcm !== undefined) {
        const name = asString(pcm['name']);
        err = keyedPayload('ConfigMap', pcm, name, lookup('ConfigMap', name), mode, files);
      } else if (ps !== undefined) {
        const name = asString(ps['name']);
        err = keyedPayload('Secret', ps, name, lookup('Secret', name), mode, files);
      } else if (pd !== undefined) {
        err = downwardPayload(pod, pd, mode, files);
      } else {
        err = `unsupported projected volume source: ${Object.keys(src).join(', ') || 'none'}`;
      }
      if (err !== undefined) return result(err);
    }
    return result(undefined);
  }
  return undefined;
}

/** The downward-API fields a volume may expose (metadata only, as Kubernetes allows). */
export function downwardVolumeField(pod: PodView, path: string): string | undefined {
  const one = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (one !== null) return (one[1] === 'labels' ? pod.labels : pod.annotations)[one[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'metadata.labels':
      return formatMap(pod.labels);
    case 'metadata.annotations':
      return formatMap(pod.annotations);
    default:
      return undefined;
  }
}

/** The kubelet's fieldpath.FormatMap: sorted `key="value"` lines (Go %q quoting). */
export function formatMap(m: Readonly<Record<string, string>>): string {
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`)
    .join('\n');
}

/**
 * A `resourceFieldRef` value (kubelet's ExtractContainerResourceValue): cpu rounded up to whole
 * divisors (default 1 core), memory in divisor units (default bytes), rounded up. An unset limit
 * is the node's allocatable in Kubernetes; the agent does not know it here and reports 0.
 */
export function resourceFieldValue(
  c: ContainerSpec,
  resource: string,
  divisor?: unknown,
): string | undefined {
  const isCpu = resource.endsWith('.cpu');
  const div = divisorOf(divisor, isCpu);
  if (div === undefined || div <= 0) return undefined;
  switch (resource) {
    case 'limits.cpu':
      return String(Math.ceil((c.limits.cpuMilli ?? 0) / div));
    case 'requests.cpu':
      return String(Math.ceil((c.requests.cpuMilli ?? 0) / div));
    case 'limits.memory':
      return String(Math.ceil((c.limits.memoryBytes ?? 0) / div));
    case 'requests.memory':
      return String(Math.ceil((c.requests.memoryBytes ?? 0) / div));
    default:
      return undefined;
  }
}

/** The divisor in millicores (cpu) or bytes (memory); default one core / one byte. */
function divisorOf(v: unknown, isCpu: boolean): number | undefined {
  if (v === undefined || v === null || v === '' || v === 0 || v === '0') return isCpu ? 1000 : 1;
  return isCpu ? toMilliValue(v) : toValue(v);
}

function modeOf(v: unknown, dflt: number): number {
  const n = asNumber(v);
  return n !== undefined && Number.isInteger(n) && n >= 0 && n <= 0o777 ? n : dflt;
}
