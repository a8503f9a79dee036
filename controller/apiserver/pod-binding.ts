/**
 * The pods/binding write, as Kubernetes' BindingREST does it: a compare-and-swap straight on the store
 * that sets spec.nodeName, the binding's annotations and PodScheduled=True. It bypasses the pod update
 * rules on purpose (they forbid changing spec.nodeName); the checks that matter are here, each a
 * Conflict worded as kube-apiserver words it. Shared by `POST pods/NAME/binding` (resource-handler.ts)
 * and the in-process scheduler, so both bind with exactly the same semantics.
 *
 * Cost: one store write per binding when the caller passes the pod it already holds (`known`, e.g. an
 * informer's copy); a lost compare-and-swap retries on the current value the store returns with the
 * conflict, so even contention costs no extra read.
 */
import { isPlainObject, type StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { ApiError, conflict, goQuote, notFound } from '../../api/status.js';
import type { Store } from '../store/store.js';
import { decodeObject, encodeObject, objectKey } from './object-codec.js';

/** What to bind: the pod, the node, and the Binding object's preconditions and annotations. */
export interface PodBindingRequest {
  readonly namespace: string;
  readonly name: string;
  readonly nodeName: string;
  /** Precondition: the pod must have this uid (`metadata.uid` of the Binding). */
  readonly uid?: string | undefined;
  /** Precondition: the pod must be at this resourceVersion (`metadata.resourceVersion` of the Binding). */
  readonly resourceVersion?: string | undefined;
  /** Merged into the pod's annotations (`metadata.annotations` of the Binding). */
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

export interface BindPodOptions {
  /** Milliseconds since the epoch, for PodScheduled's lastTransitionTime. */
  readonly now: number;
  /** Check everything, write nothing (`dryRun=All`). */
  readonly dryRun?: boolean;
  /**
   * The pod as the caller last saw it, with its resourceVersion (e.g. an informer's copy; it is not
   * mutated). The first attempt writes on top of it instead of reading the store; if it is stale the
   * compare-and-swap fails and the next attempt uses the stored value. Ignored when the request pins
   * a resourceVersion, since a stale copy would fail that precondition wrongly.
   */
  readonly known?: StoredObject;
  /** Compare-and-swap attempts before giving up with a Conflict (default 20). */
  readonly maxAttempts?: number;
}

const podBinding = { group: '', resource: 'pods/binding' };
const podsResource = { group: '', resource: 'pods' };
const pods = findResource('', 'v1', 'pods') as ResourceInfo;
const DEFAULT_MAX_ATTEMPTS = 20;

/**
 * Binds a pod to a node. Resolves once the binding is durable (or, in a dry run, once it would be).
 * Throws `ApiError`: NotFound when the pod does not exist; Conflict when a precondition fails (on
 * `pods`), when the pod is being deleted or already assigned (on `pods/binding`), or when
 * `maxAttempts` compare-and-swaps were lost to concurrent writers. Store failures propagate.
 */
export async function bindPod(store: Store, request: PodBindingRequest, opts: BindPodOptions): Promise<void> {
  const { name } = request;
  const key = objectKey(pods, request.namespace, name);
  const pinned = request.resourceVersion !== undefined && request.resourceVersion !== '';
  let current: { pod: StoredObject; revision: number } | undefined =
    opts.known !== undefined && !pinned ? fromKnown(opts.known) : undefined;
  if (current === undefined) {
    const kv = await store.get(key);
    if (kv === undefined) throw new ApiError(notFound(podsResource, name));
    current = { pod: decodeObject(kv), revision: kv.modRevision };
  }
  const maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const next = boundPod(current.pod, request, opts.now);
    if (opts.dryRun === true) return;
    const result = await store.update(key, encodeObject(next), current.revision);
    if (result.ok) return;
    if (result.reason === 'not-found') throw new ApiError(notFound(podsResource, name));
    current = { pod: decodeObject(result.current), revision: result.current.modRevision };
  }
  throw new ApiError(conflict(podBinding, name, 'too many concurrent writers; try again'));
}

function fromKnown(known: StoredObject): { pod: StoredObject; revision: number } | undefined {
  const revision = Number(known.metadata.resourceVersion);
  return Number.isSafeInteger(revision) && revision > 0 ? { pod: known, revision } : undefined;
}

/**
 * The pod with the binding applied, or a thrown Conflict when it may not be bound. Builds new objects
 * along the changed paths only: `pod` may be shared (a decode-cache or informer object).
 */
function boundPod(pod: StoredObject, request: PodBindingRequest, now: number): StoredObject {
  const { name, uid, resourceVersion } = request;
  // Failed preconditions are Conflicts on the pod itself; the binding's own refusals, on pods/binding.
  const stale = (detail: string): ApiError =>
    new ApiError(conflict(podsResource, name, `Precondition failed: ${detail}`));
  const refuse = (detail: string): ApiError => new ApiError(conflict(podBinding, name, detail));
  if (uid !== undefined && uid !== '' && uid !== pod.metadata.uid) {
    throw stale(`UID in precondition: ${uid}, UID in object meta: ${pod.metadata.uid ?? ''}`);
  }
  if (
    resourceVersion !== undefined &&
    resourceVersion !== '' &&
    resourceVersion !== pod.metadata.resourceVersion
  ) {
    throw stale(
      `ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ${pod.metadata.resourceVersion ?? ''}`,
    );
  }
  if (pod.metadata.deletionTimestamp !== undefined) {
    throw refuse(`pod ${name} is being deleted, cannot be assigned to a host`);
  }
  const spec = isPlainObject(pod.spec) ? pod.spec : {};
  if (typeof spec['nodeName'] === 'string' && spec['nodeName'] !== '') {
    throw refuse(`pod ${name} is already assigned to node ${goQuote(spec['nodeName'])}`);
  }
  const annotations = request.annotations ?? {};
  const metadata =
    Object.keys(annotations).length > 0
      ? { ...pod.metadata, annotations: { ...pod.metadata.annotations, ...annotations } }
      : pod.metadata;
  return {
    ...pod,
    metadata,
    spec: { ...spec, nodeName: request.nodeName },
    status: withPodScheduled(pod.status, now),
  };
}

/** podutil.UpdatePodCondition for PodScheduled=True: set it, keeping the transition time if it was True. */
function withPodScheduled(status: unknown, now: number): Record<string, unknown> {
  const st = isPlainObject(status) ? { ...status } : {};
  const conditions = Array.isArray(st['conditions']) ? (st['conditions'] as unknown[]) : [];
  const old = conditions.find((c) => isPlainObject(c) && c['type'] === 'PodScheduled');
  const unchanged = isPlainObject(old) && old['status'] === 'True';
  const scheduled = {
    type: 'PodScheduled',
    status: 'True',
    lastProbeTime: null,
    lastTransitionTime: unchanged
      ? old['lastTransitionTime']
      : new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  st['conditions'] =
    old === undefined ? [...conditions, scheduled] : conditions.map((c) => (c === old ? scheduled : c));
  return st;
}
