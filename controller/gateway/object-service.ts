/**
 * `AgentGateway.GetObject`: lets a node read the ConfigMaps and Secrets its pods need, behind a node
 * authorizer modelled on Kubernetes' (plugin/pkg/auth/authorizer/node): the caller's node name comes
 * from its verified client certificate only, and it may read an object only when some pod bound to
 * it (`spec.nodeName`) in the object's namespace references it — through a volume (configMap,
 * secret, projected sources, a volume plugin's secretRef), `env[].valueFrom`, `envFrom` or
 * `imagePullSecrets`, in any init, app or ephemeral container. Everything else is PERMISSION_DENIED,
 * whether the object exists or not, so a node cannot even probe for names.
 *
 * Kubernetes keeps a graph for this; here each request lists the pods of one namespace (references
 * never cross namespaces) and stops at the first match. Agents poll each referenced object about
 * once a minute per pod, so this stays cheap until namespaces hold many thousands of pods; an index
 * fed by the gateway's pod watch is the next step if it is not.
 */
import {
  status as grpcStatus,
  type sendUnaryData,
  type ServerUnaryCall,
  type StatusObject,
} from '@grpc/grpc-js';
import type { StoredObject } from '../../api/object.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { asArray, asObject, asString } from '../../api/validation/json-access.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { GetObjectRequest, GetObjectResponse } from '../../proto/gen/berth/v1/agent.js';
import { decodeObject, objectKey } from '../apiserver/object-codec.js';
import type { ResourceStorage } from '../apiserver/resource-storage.js';
import { nodeNameOfPeer } from './gateway-credentials.js';

export type ReferencedKind = 'ConfigMap' | 'Secret';

/** The ConfigMap and Secret names a pod references (namespace-local). */
export interface PodReferences {
  readonly configMaps: ReadonlySet<string>;
  readonly secrets: ReadonlySet<string>;
}

/** The outcome of one GetObject, before it becomes a gRPC answer. */
export type GetObjectOutcome =
  | { readonly ok: true; readonly object: StoredObject | undefined }
  | { readonly ok: false; readonly code: 'denied' | 'invalid'; readonly message: string };

export interface ObjectServiceOptions {
  readonly storage: ResourceStorage;
  readonly logger: Logger;
}

const resources: Record<ReferencedKind, ResourceInfo> = {
  ConfigMap: required(findResource('', 'v1', 'configmaps')),
  Secret: required(findResource('', 'v1', 'secrets')),
};
const podsResource = required(findResource('', 'v1', 'pods'));

/** Serves GetObject for the agent gateway. */
export class ObjectService {
  readonly #o: ObjectServiceOptions;

  constructor(opts: ObjectServiceOptions) {
    this.#o = opts;
  }

  /**
   * The object `nodeName` asked for, if it may read it: `{ ok: true, object: undefined }` for a
   * referenced object that does not exist. Store failures are thrown.
   */
  async get(nodeName: string, req: GetObjectRequest): Promise<GetObjectOutcome> {
    const kind = req.kind;
    if (kind !== 'ConfigMap' && kind !== 'Secret')
      return { ok: false, code: 'invalid', message: `kind must be ConfigMap or Secret, not "${kind}"` };
    if (req.namespace === '' || req.name === '')
      return { ok: false, code: 'invalid', message: 'namespace and name are required' };
    if (!(await this.#referencedByNodePod(nodeName, kind, req.namespace, req.name))) {
      const r = resources[kind];
      return {
        ok: false,
        code: 'denied',
        message:
          `${r.plural} "${req.name}" is forbidden: User "system:node:${nodeName}" cannot get resource ` +
          `"${r.plural}" in API group "" in the namespace "${req.namespace}": no relationship found ` +
          `between node '${nodeName}' and this object`,
      };
    }
    const kv = await this.#o.storage.store.get(objectKey(resources[kind], req.namespace, req.name));
    return { ok: true, object: kv === undefined ? undefined : decodeObject(kv) };
  }

  /** The grpc-js handler: authenticates the peer as a node, then answers `get`. */
  readonly handle = (
    call: ServerUnaryCall<GetObjectRequest, GetObjectResponse>,
    callback: sendUnaryData<GetObjectResponse>,
  ): void => {
    const nodeName = nodeNameOfPeer(call.getAuthContext().sslPeerCertificate);
    if (nodeName === undefined) {
      callback(
        status(
          grpcStatus.UNAUTHENTICATED,
          'GetObject needs a node client certificate issued by this cluster',
        ),
      );
      return;
    }
    this.get(nodeName, call.request).then(
      (out) => {
        if (out.ok) {
          callback(null, {
            found: out.object !== undefined,
            objectJson: Buffer.from(out.object === undefined ? '' : JSON.stringify(out.object)),
          });
          return;
        }
        if (out.code === 'denied') {
          this.#o.logger.warn(
            {
              node: nodeName,
              kind: call.request.kind,
              namespace: call.request.namespace,
              name: call.request.name,
            },
            'node refused an object its pods do not reference',
          );
        }
        callback(
          status(
            out.code === 'denied' ? grpcStatus.PERMISSION_DENIED : grpcStatus.INVALID_ARGUMENT,
            out.message,
          ),
        );
      },
      (err: unknown) => {
        this.#o.logger.error({ node: nodeName, err: errorMessage(err) }, 'GetObject failed');
        callback(status(grpcStatus.UNAVAILABLE, `reading the object failed: ${errorMessage(err)}`));
      },
    );
  };

  async #referencedByNodePod(
    nodeName: string,
    kind: ReferencedKind,
    namespace: string,
    name: string,
  ): Promise<boolean> {
    let found = false;
    await this.#o.storage.list(podsResource, namespace, {
      filter: (pod) => {
        if (found) return false;
        if (asString(asObject(pod.spec)?.['nodeName']) !== nodeName) return false;
        const refs = podReferences(pod);
        found = (kind === 'ConfigMap' ? refs.configMaps : refs.secrets).has(name);
        return false;
      },
    });
    return found;
  }
}

/** Every ConfigMap and Secret a pod references, as Kubernetes' VisitPodSecretNames/VisitPodConfigmapNames. */
export function podReferences(pod: StoredObject): PodReferences {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const add = (set: Set<string>, v: unknown): void => {
    const s = asString(v);
    if (s !== '') set.add(s);
  };
  const spec = asObject(pod.spec) ?? {};
  for (const s of asArray(spec['imagePullSecrets'])) add(secrets, asObject(s)?.['name']);
  for (const v of asArray(spec['volumes'])) {
    const vol = asObject(v) ?? {};
    add(configMaps, asObject(vol['configMap'])?.['name']);
    add(secrets, asObject(vol['secret'])?.['secretName']);
    add(secrets, asObject(vol['azureFile'])?.['secretName']);
    add(secrets, asObject(asObject(vol['csi'])?.['nodePublishSecretRef'])?.['name']);
    for (const source of Object.values(vol)) {
      // cephfs, cinder, flexVolume, iscsi, rbd, scaleIO, storageos: `<plugin>.secretRef.name`.
      add(secrets, asObject(asObject(source)?.['secretRef'])?.['name']);
    }
    for (const s of asArray(asObject(vol['projected'])?.['sources'])) {
      const src = asObject(s) ?? {};
      add(configMaps, asObject(src['configMap'])?.['name']);
      add(secrets, asObject(src['secret'])?.['name']);
    }
  }
  const containers = [
    ...asArray(spec['initContainers']),
    ...asArray(spec['containers']),
    ...asArray(spec['ephemeralContainers']),
  ];
  for (const c of containers) {
    const co = asObject(c) ?? {};
    for (const e of asArray(co['envFrom'])) {
      const eo = asObject(e) ?? {};
      add(configMaps, asObject(eo['configMapRef'])?.['name']);
      add(secrets, asObject(eo['secretRef'])?.['name']);
    }
    for (const e of asArray(co['env'])) {
      const from = asObject(asObject(e)?.['valueFrom']) ?? {};
      add(configMaps, asObject(from['configMapKeyRef'])?.['name']);
      add(secrets, asObject(from['secretKeyRef'])?.['name']);
    }
  }
  return { configMaps, secrets };
}

function status(code: grpcStatus, details: string): Partial<StatusObject> {
  return { code, details };
}

function required(r: ResourceInfo | undefined): ResourceInfo {
  if (r === undefined) throw new Error('object-service: core resource missing from the resource table');
  return r;
}
