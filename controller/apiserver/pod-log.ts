/**
 * `GET /api/v1/namespaces/NS/pods/NAME/log`: validated here the way kube-apiserver and the kubelet
 * validate it, then served by the pod's node through a tunnel (controller/gateway/tunnel-broker.ts)
 * and streamed back as `200 text/plain`, chunked, for as long as the agent writes (`follow`).
 *
 * Validation, with Kubernetes' messages (all 400 BadRequest unless noted):
 * - the container: the only one, or `a container name must be specified for pod X, choose one of:
 *   [init… app…]`; an unknown one is `container C is not valid for pod X`;
 * - the pod not yet on a node: an empty 200, as kube-apiserver answers (no location, no logs);
 * - the container's state (the kubelet's `validateContainerLogStatus`): `container "C" in pod "X" is
 *   waiting to start: ContainerCreating`, `previous terminated container "C" in pod "X" not found`, …;
 * - the node not connected: 503 ServiceUnavailable; the node not answering in time: 504 Timeout.
 *
 * The response headers wait for the agent's first frame, so a refusal on the node (say the previous
 * log file is gone) is still a proper Status rather than a broken 200.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainObject, type StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import {
  ApiError,
  badRequest,
  failureStatus,
  serviceUnavailable,
  timeout,
  type Status,
} from '../../api/status.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { LogRequest } from '../../proto/gen/berth/v1/agent.js';
import type { TunnelOpenResult, TunnelOpener } from '../gateway/tunnel-broker.js';
import { sendStatus } from './http-io.js';
import type { ResourceStorage } from './resource-storage.js';

/** What serving logs and exec needs. */
export interface PodStreamDeps {
  readonly storage: ResourceStorage;
  readonly tunnels: TunnelOpener;
  readonly clock: Clock;
  readonly logger: Logger;
}

function podsResource(): ResourceInfo {
  const r = findResource('', 'v1', 'pods');
  if (r === undefined) throw new Error('pods resource is not registered');
  return r;
}

/** Reads the pod (404 as kube words it). */
export function getPod(deps: PodStreamDeps, namespace: string, name: string): Promise<StoredObject> {
  return deps.storage.get(podsResource(), namespace, name);
}

interface ContainerSpec {
  readonly name: string;
}

function containerNames(pod: StoredObject, field: 'containers' | 'initContainers'): string[] {
  const spec = pod['spec'];
  if (!isPlainObject(spec)) return [];
  const list = spec[field];
  if (!Array.isArray(list)) return [];
  return list
    .filter((c): c is ContainerSpec => isPlainObject(c) && typeof c['name'] === 'string')
    .map((c) => c.name);
}

/**
 * The container a log or exec request is for, or a 400 Status (kube-apiserver's `validateContainer`
 * for logs, `streamLocation` for exec: their multi-container messages differ).
 */
export function resolveContainer(
  pod: StoredObject,
  requested: string,
  flavour: 'log' | 'exec',
): { ok: true; container: string } | { ok: false; status: Status } {
  const name = pod.metadata.name ?? '';
  const apps = containerNames(pod, 'containers');
  const inits = containerNames(pod, 'initContainers');
  if (requested !== '') {
    if (apps.includes(requested) || inits.includes(requested)) return { ok: true, container: requested };
    return { ok: false, status: badRequest(`container ${requested} is not valid for pod ${name}`) };
  }
  if (apps.length === 1 && apps[0] !== undefined) return { ok: true, container: apps[0] };
  if (apps.length === 0) {
    return { ok: false, status: badRequest(`a container name must be specified for pod ${name}`) };
  }
  const message =
    flavour === 'log'
      ? `a container name must be specified for pod ${name}, choose one of: [${[...inits, ...apps].join(' ')}]`
      : `a container name must be specified for pod ${name}, choose one of: [${apps.join(' ')}]` +
        (inits.length > 0 ? ` or one of the init containers: [${inits.join(' ')}]` : '');
  return { ok: false, status: badRequest(message) };
}

type JsonMap = Record<string, unknown>;

function containerStatusOf(pod: StoredObject, container: string): JsonMap | undefined {
  const status = pod['status'];
  if (!isPlainObject(status)) return undefined;
  for (const field of ['containerStatuses', 'initContainerStatuses']) {
    const list = status[field];
    if (!Array.isArray(list)) continue;
    for (const s of list) if (isPlainObject(s) && s['name'] === container) return s;
  }
  return undefined;
}

function sub(obj: unknown, key: string): JsonMap | undefined {
  if (!isPlainObject(obj)) return undefined;
  const v = obj[key];
  return isPlainObject(v) ? v : undefined;
}

/**
 * The kubelet's `validateContainerLogStatus`: whether the container has a log to read now, as a
 * message when it has not. Pure.
 */
export function containerLogProblem(
  pod: StoredObject,
  container: string,
  previous: boolean,
): string | undefined {
  const podName = pod.metadata.name ?? '';
  const cs = containerStatusOf(pod, container);
  if (cs === undefined) return `container "${container}" in pod "${podName}" is not available`;
  const state = sub(cs, 'state');
  const last = sub(cs, 'lastState');
  const lastTerminated = sub(last, 'terminated');
  const waiting = sub(state, 'waiting');
  const running = sub(state, 'running');
  const terminated = sub(state, 'terminated');
  const hasId = (t: JsonMap | undefined): boolean =>
    t !== undefined && typeof t['containerID'] === 'string' && t['containerID'] !== '';
  if (previous) {
    return hasId(lastTerminated)
      ? undefined
      : `previous terminated container "${container}" in pod "${podName}" not found`;
  }
  if (running !== undefined) return undefined;
  if (terminated !== undefined) {
    if (hasId(terminated) || (typeof cs['containerID'] === 'string' && cs['containerID'] !== ''))
      return undefined;
    return hasId(lastTerminated) ? undefined : `container "${container}" in pod "${podName}" is terminated`;
  }
  if (lastTerminated !== undefined) {
    return hasId(lastTerminated) ? undefined : `container "${container}" in pod "${podName}" is terminated`;
  }
  if (waiting !== undefined) {
    const reason = typeof waiting['reason'] === 'string' ? waiting['reason'] : '';
    if (reason === 'ErrImagePull')
      return `container "${container}" in pod "${podName}" is waiting to start: image can't be pulled`;
    if (reason === 'ImagePullBackOff')
      return `container "${container}" in pod "${podName}" is waiting to start: trying and failing to pull image`;
    return `container "${container}" in pod "${podName}" is waiting to start: ${reason}`;
  }
  return `container "${container}" in pod "${podName}" is waiting to start - no logs yet`;
}

/** The Status for a tunnel that could not be opened. */
export function tunnelFailureStatus(result: Exclude<TunnelOpenResult, { ok: true }>): Status {
  switch (result.reason) {
    case 'Timeout':
      return timeout(result.message);
    case 'Aborted':
      return failureStatus('InternalError', result.message);
    case 'NodeNotConnected':
      return serviceUnavailable(result.message);
  }
}

/** A metav1.Status the agent sent on channel 3, with kube's fields filled in. */
export function statusFromAgent(data: Buffer): Status {
  try {
    const v = JSON.parse(data.toString('utf8')) as Partial<Status>;
    const code = typeof v.code === 'number' ? v.code : 500;
    const status = failureStatus(
      code === 400 ? 'BadRequest' : code === 404 ? 'NotFound' : 'InternalError',
      typeof v.message === 'string' ? v.message : 'the node refused the request',
    );
    return status;
  } catch {
    return failureStatus('InternalError', 'the node sent an unreadable status');
  }
}

function intParam(query: URLSearchParams, key: string): number | undefined {
  const v = query.get(key);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ApiError(badRequest(`invalid ${key} "${v}": not an integer`));
  return n;
}

function boolParam(query: URLSearchParams, key: string): boolean {
  const v = query.get(key);
  return v === 'true' || v === '1' || v === 'True';
}

/** The log request for `query` (PodLogOptions), or throws a 400/422-style ApiError. */
export function logRequestOf(query: URLSearchParams, pod: StoredObject, container: string): LogRequest {
  const tailLines = intParam(query, 'tailLines');
  const sinceSeconds = intParam(query, 'sinceSeconds');
  const limitBytes = intParam(query, 'limitBytes');
  const sinceTime = query.get('sinceTime');
  const problems: string[] = [];
  if (tailLines !== undefined && tailLines < 0) problems.push('tailLines: Invalid value: must be >= 0');
  if (sinceSeconds !== undefined && sinceSeconds < 1)
    problems.push('sinceSeconds: Invalid value: must be greater than 0');
  if (limitBytes !== undefined && limitBytes < 1)
    problems.push('limitBytes: Invalid value: must be greater than 0');
  let sinceTimeMs = 0;
  if (sinceTime !== null && sinceTime !== '') {
    sinceTimeMs = Date.parse(sinceTime);
    if (Number.isNaN(sinceTimeMs))
      problems.push(`sinceTime: Invalid value: "${sinceTime}": not an RFC3339 time`);
  }
  if (sinceSeconds !== undefined && sinceTimeMs !== 0)
    problems.push('sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified');
  if (problems.length > 0) {
    throw new ApiError(
      badRequest(`PodLogOptions "${pod.metadata.name ?? ''}" is invalid: [${problems.join(', ')}]`),
    );
  }
  return {
    namespace: pod.metadata.namespace ?? '',
    podName: pod.metadata.name ?? '',
    podUid: pod.metadata.uid ?? '',
    container,
    follow: boolParam(query, 'follow'),
    previous: boolParam(query, 'previous'),
    timestamps: boolParam(query, 'timestamps'),
    tailLines: tailLines ?? -1,
    sinceSeconds: sinceSeconds ?? 0,
    sinceTimeMs,
    limitBytes: limitBytes ?? 0,
  };
}

/** Serves one log request; resolves to the HTTP code sent. Throws ApiError for early refusals. */
export async function servePodLog(
  deps: PodStreamDeps,
  req: IncomingMessage,
  res: ServerResponse,
  namespace: string,
  name: string,
  query: URLSearchParams,
): Promise<number> {
  req.resume();
  const pod = await getPod(deps, namespace, name);
  const resolved = resolveContainer(pod, query.get('container') ?? '', 'log');
  if (!resolved.ok) throw new ApiError(resolved.status);
  const request = logRequestOf(query, pod, resolved.container);
  const spec = pod['spec'];
  const nodeName = isPlainObject(spec) && typeof spec['nodeName'] === 'string' ? spec['nodeName'] : '';
  if (nodeName === '') {
    // kube-apiserver: no node, no location, an empty log.
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 0 });
    res.end();
    return 200;
  }
  const problem = containerLogProblem(pod, resolved.container, request.previous);
  if (problem !== undefined) throw new ApiError(badRequest(problem));

  const abort = new AbortController();
  const onClose = (): void => {
    abort.abort();
  };
  res.on('close', onClose);
  const opened = await deps.tunnels.open(nodeName, { $case: 'logs', logs: request }, abort.signal);
  if (!opened.ok) {
    res.removeListener('close', onClose);
    if (abort.signal.aborted) return 499;
    throw new ApiError(tunnelFailureStatus(opened));
  }
  const tunnel = opened.tunnel;
  res.on('close', () => {
    tunnel.close();
  });
  let code = 200;
  try {
    for await (const frame of tunnel) {
      if (!res.headersSent) {
        if (frame.channel === 3) {
          const status = statusFromAgent(frame.data);
          sendStatus(res, status);
          code = status.code;
          return code;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache' });
        // Flushes the headers now, so `kubectl logs -f` of a quiet container is not left waiting.
        res.flushHeaders();
      }
      if ((frame.channel === 1 || frame.channel === 2) && frame.data.length > 0) {
        if (!res.write(frame.data)) {
          await new Promise<void>((resolve) => {
            res.once('drain', resolve);
            res.once('close', resolve);
          });
        }
      }
      if (res.destroyed) break;
    }
    if (!res.headersSent) {
      // The agent ended without a word: nothing to show.
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 0 });
    }
    res.end();
  } finally {
    tunnel.close();
  }
  return code;
}
