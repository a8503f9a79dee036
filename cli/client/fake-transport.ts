/**
 * A scripted {@link Transport} for unit tests of the client and the verbs: each request is matched
 * by method and path (query string included) against handlers in order, and recorded so tests can
 * assert on what was sent. Watches stream the handler's lines and then end, like a server closing.
 */

import type { HttpRequest, HttpResponse, HttpStream, Transport } from './http-transport.js';

/** What a handler answers: a body (JSON-encoded when not a string) with a status, or watch lines. */
export interface FakeAnswer {
  readonly status?: number;
  readonly body?: unknown;
  readonly contentType?: string;
  /** For watch requests: each line (JSON-encoded when not a string). */
  readonly lines?: readonly unknown[];
  /** For watch requests: after the lines, stay open until the request's signal aborts. */
  readonly hang?: boolean;
}

/** A handler: returns an answer, or undefined to let the next handler try. */
export type FakeHandler = (req: HttpRequest) => FakeAnswer | undefined;

/** A transport answering from `handlers`, recording every request. 404 Status when none answers. */
export class FakeTransport implements Transport {
  readonly server = 'https://fake:6443';
  readonly requests: HttpRequest[] = [];
  readonly #handlers: FakeHandler[];

  constructor(handlers: readonly FakeHandler[]) {
    this.#handlers = [...handlers];
  }

  /** Adds a handler tried before the others. */
  prepend(handler: FakeHandler): void {
    this.#handlers.unshift(handler);
  }

  #answer(req: HttpRequest): FakeAnswer {
    this.requests.push(req);
    for (const h of this.#handlers) {
      const a = h(req);
      if (a !== undefined) return a;
    }
    return {
      status: 404,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `no fake for ${req.method} ${req.path}`,
        reason: 'NotFound',
        code: 404,
      },
    };
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    const a = this.#answer(req);
    return Promise.resolve({
      status: a.status ?? 200,
      contentType: a.contentType ?? 'application/json',
      body: typeof a.body === 'string' ? a.body : JSON.stringify(a.body ?? {}),
    });
  }

  stream(req: HttpRequest): Promise<HttpStream> {
    const a = this.#answer(req);
    const lines = (a.lines ?? []).map((l) => (typeof l === 'string' ? l : JSON.stringify(l)));
    const body = typeof a.body === 'string' ? a.body : JSON.stringify(a.body ?? {});
    return Promise.resolve({
      status: a.status ?? 200,
      contentType: a.contentType ?? 'application/json',
      lines: async function* () {
        for (const l of lines) {
          await Promise.resolve();
          if (req.signal?.aborted === true) return;
          yield l;
        }
        const signal = req.signal;
        if (a.hang === true && signal !== undefined && !signal.aborted) {
          await new Promise((resolve) => {
            signal.addEventListener('abort', resolve, { once: true });
          });
        }
      },
      text: () => Promise.resolve(body),
      close: () => undefined,
    });
  }
}

/** A handler for one method and path (exact, or a RegExp over path+query). */
export function on(
  method: string,
  path: string | RegExp,
  answer: FakeAnswer | ((req: HttpRequest) => FakeAnswer),
): FakeHandler {
  return (req) => {
    if (req.method !== method) return undefined;
    const matches = typeof path === 'string' ? req.path === path : path.test(req.path);
    if (!matches) return undefined;
    return typeof answer === 'function' ? answer(req) : answer;
  };
}

/** Aggregated discovery for a few core and apps resources, as berth server serves it. */
export function fakeDiscovery(): FakeHandler[] {
  const resource = (
    group: string,
    kind: string,
    plural: string,
    namespaced: boolean,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> => ({
    resource: plural,
    responseKind: { group, version: 'v1', kind },
    scope: namespaced ? 'Namespaced' : 'Cluster',
    singularResource: kind.toLowerCase(),
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    ...extra,
  });
  const doc = (items: unknown[]): FakeAnswer => ({
    body: { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items },
    contentType: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
  });
  return [
    on(
      'GET',
      '/api',
      doc([
        {
          metadata: { name: '' },
          versions: [
            {
              version: 'v1',
              resources: [
                resource('', 'Pod', 'pods', true, { shortNames: ['po'], categories: ['all'] }),
                resource('', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] }),
                resource('', 'Event', 'events', true, { shortNames: ['ev'] }),
                resource('', 'Namespace', 'namespaces', false, { shortNames: ['ns'] }),
              ],
            },
          ],
        },
      ]),
    ),
    on(
      'GET',
      '/apis',
      doc([
        {
          metadata: { name: 'apps' },
          versions: [
            {
              version: 'v1',
              resources: [
                resource('apps', 'Deployment', 'deployments', true, {
                  shortNames: ['deploy'],
                  categories: ['all'],
                  subresources: [{ subresource: 'scale' }, { subresource: 'status' }],
                }),
                resource('apps', 'ReplicaSet', 'replicasets', true, {
                  shortNames: ['rs'],
                  subresources: [{ subresource: 'scale' }],
                }),
              ],
            },
          ],
        },
      ]),
    ),
  ];
}
