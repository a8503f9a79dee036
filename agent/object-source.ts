/**
 * Where the agent reads the ConfigMaps and Secrets its pods reference (configMap/secret volumes,
 * `env[].valueFrom`, `envFrom`). The seam is one method, `get`; two implementations:
 *
 * - `GatewayObjectSource`: the controller's `AgentGateway.GetObject` over mTLS with the node's
 *   certificate. The controller's node authorizer answers only for objects referenced by a pod bound
 *   to this node, so a compromised node reads no more than its own pods could.
 * - `FakeObjectSource`: an in-memory map, for unit tests and simulated nodes.
 *
 * "Not found" is a value (`undefined`); anything else that keeps the object from us (unreachable
 * controller, refusal, a garbled answer) is thrown as `OBJECT_UNAVAILABLE`, so callers never mistake
 * an outage for a deleted object.
 */
import {
  credentials as grpcCredentials,
  Metadata,
  status as grpcStatus,
  type ChannelCredentials,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Clock } from '../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../lib/errors.js';
import { asObject, type JsonObject } from '../api/validation/json-access.js';
import { AgentGatewayClient, type GetObjectResponse } from '../proto/gen/berth/v1/agent.js';
import { grpcTarget, NodeIdentity, type NodeCredentials, type NodeIdentityOptions } from './node-identity.js';

/** The kinds of object a node may read. */
export type ObjectKind = 'ConfigMap' | 'Secret';

/** Reads ConfigMaps and Secrets for the pods of this node. Implementations are safe to call concurrently. */
export interface ObjectSource {
  /**
   * The object as API JSON, or `undefined` when it does not exist. Throws `OBJECT_UNAVAILABLE` when
   * it cannot be read (controller unreachable, access refused, malformed answer) or `signal` aborts.
   */
  get(
    kind: ObjectKind,
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<JsonObject | undefined>;
}

/** An in-memory `ObjectSource`; tests change its contents and can make it fail. */
export class FakeObjectSource implements ObjectSource {
  readonly #objects = new Map<string, JsonObject>();
  /** Every `get`, in order, as `Kind/namespace/name` (for tests that count reads). */
  readonly calls: string[] = [];
  /** When set, every `get` throws this (as `OBJECT_UNAVAILABLE`). */
  failWith: string | undefined;

  /** Adds or replaces an object; its kind, namespace and name are read from it. */
  set(obj: JsonObject): void {
    const meta = asObject(obj['metadata']) ?? {};
    const kind = obj['kind'];
    if (kind !== 'ConfigMap' && kind !== 'Secret')
      throw new Error('FakeObjectSource.set: kind must be ConfigMap or Secret');
    const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default';
    this.#objects.set(key(kind, namespace, String(meta['name'])), structuredClone(obj));
  }

  delete(kind: ObjectKind, namespace: string, name: string): void {
    this.#objects.delete(key(kind, namespace, name));
  }

  get(
    kind: ObjectKind,
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<JsonObject | undefined> {
    this.calls.push(key(kind, namespace, name));
    if (signal?.aborted === true) return Promise.reject(unavailable(kind, namespace, name, 'aborted'));
    if (this.failWith !== undefined) return Promise.reject(unavailable(kind, namespace, name, this.failWith));
    const obj = this.#objects.get(key(kind, namespace, name));
    return Promise.resolve(obj === undefined ? undefined : structuredClone(obj));
  }
}

/** What a `GatewayObjectSource` needs to reach the controller. */
export interface GatewayObjectSourceOptions {
  /** grpc-js target of the agent gateway, `HOST:PORT`. */
  readonly target: string;
  /**
   * The node's credentials (`NodeIdentity` provides them). Called before each channel is built;
   * `invalidate` is called when the controller refuses them, so the next call may fetch new ones.
   */
  readonly credentials: {
    current(): Promise<NodeCredentials>;
    invalidate(): void;
  };
  readonly clock: Clock;
  /** Deadline of one GetObject call (default 10 s). */
  readonly timeoutMs?: number;
  /** Builds the channel credentials (default: mTLS with the node's key, certificate and CA). */
  readonly channelCredentials?: (creds: NodeCredentials) => ChannelCredentials;
}

/** An `ObjectSource` backed by the controller's `AgentGateway.GetObject` (node-authorized). */
export class GatewayObjectSource implements ObjectSource {
  readonly #o: GatewayObjectSourceOptions;
  #client: { readonly creds: NodeCredentials; readonly client: AgentGatewayClient } | undefined;

  constructor(opts: GatewayObjectSourceOptions) {
    this.#o = opts;
  }

  async get(
    kind: ObjectKind,
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<JsonObject | undefined> {
    let creds: NodeCredentials;
    try {
      creds = await this.#o.credentials.current();
    } catch (err) {
      throw unavailable(kind, namespace, name, `no node credentials: ${errorMessage(err)}`, err);
    }
    const client = this.#clientFor(creds);
    const deadline = new Date(this.#o.clock.now() + (this.#o.timeoutMs ?? 10_000));
    const res = await new Promise<GetObjectResponse>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(unavailable(kind, namespace, name, 'aborted'));
        return;
      }
      const call = client.getObject(
        { kind, namespace, name },
        new Metadata(),
        { deadline },
        (err: ServiceError | null, out) => {
          signal?.removeEventListener('abort', onAbort);
          if (err === null) {
            resolve(out);
            return;
          }
          if (err.code === grpcStatus.UNAUTHENTICATED) this.#refused(creds);
          reject(unavailable(kind, namespace, name, `${grpcStatus[err.code]}: ${err.details}`, err));
        },
      );
      const onAbort = (): void => {
        call.cancel();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    if (!res.found) return undefined;
    let obj: unknown;
    try {
      obj = JSON.parse(Buffer.from(res.objectJson).toString('utf8'));
    } catch (err) {
      throw unavailable(kind, namespace, name, 'the controller sent malformed JSON', err);
    }
    const out = asObject(obj);
    if (out === undefined) throw unavailable(kind, namespace, name, 'the controller sent no object');
    return out;
  }

  /** Closes the channel. */
  close(): void {
    this.#client?.client.close();
    this.#client = undefined;
  }

  #clientFor(creds: NodeCredentials): AgentGatewayClient {
    if (this.#client?.creds === creds) return this.#client.client;
    this.#client?.client.close();
    const channel = (this.#o.channelCredentials ?? nodeChannelCredentials)(creds);
    const client = new AgentGatewayClient(this.#o.target, channel, {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    });
    this.#client = { creds, client };
    return client;
  }

  #refused(creds: NodeCredentials): void {
    if (this.#client?.creds !== creds) return;
    this.close();
    this.#o.credentials.invalidate();
  }
}

/**
 * A gateway-backed source for an agent's composition root: it loads the node identity from
 * `opts.dataDir` (joining with the token only if there is none yet — after `startAgent` resolved,
 * the agent has stored one) and reads from the gateway at `opts.gateway`. Close it with the agent.
 */
export function nodeObjectSource(
  opts: NodeIdentityOptions & { readonly timeoutMs?: number },
): GatewayObjectSource {
  return new GatewayObjectSource({
    target: grpcTarget(opts.gateway.host, opts.gateway.port),
    credentials: new NodeIdentity(opts),
    clock: opts.clock,
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
  });
}

/** mTLS channel credentials from the node's identity (what the gateway client uses too). */
export function nodeChannelCredentials(creds: NodeCredentials): ChannelCredentials {
  return grpcCredentials.createSsl(
    Buffer.from(creds.caPem),
    Buffer.from(creds.keyPem),
    Buffer.from(creds.certPem),
  );
}

function key(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function unavailable(
  kind: ObjectKind,
  namespace: string,
  name: string,
  why: string,
  cause?: unknown,
): BerthError {
  return new BerthError(
    errorCodes.OBJECT_UNAVAILABLE,
    `cannot read ${kind.toLowerCase()} ${namespace}/${name}: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}
