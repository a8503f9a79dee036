/**
 * The HTTP the registry client is given: a `fetch` function and a way to get a dispatcher (undici
 * `Agent`) for a registry's TLS settings (custom CA, client certificate, skip-verify). Logic never
 * touches the global `fetch`; the composition root passes it in through `createNodeRegistryHttp`, and
 * tests pass a scripted one.
 *
 * Node ships undici inside its global `fetch` but does not export `Agent`; the global dispatcher that
 * fetch installs is an `Agent`, so its constructor is taken from there (undici's own documented
 * global-dispatcher symbol). This works on Node 20, 22 and 24; if it ever stops working, registries
 * that need a custom CA fail with a clear error instead of silently skipping verification.
 */
import { rootCertificates } from 'node:tls';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { TlsSettings } from './registries-config.js';

/** What the registry client passes to `fetch` (a subset of `RequestInit`, plus undici's `dispatcher`). */
export interface RegistryRequestInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal?: AbortSignal;
  readonly redirect: 'manual';
  readonly dispatcher?: unknown;
}

/** `fetch` as the registry client uses it; the global `fetch` satisfies it. */
export type FetchFunction = (url: string, init: RegistryRequestInit) => Promise<Response>;

/**
 * Node's global `fetch`, typed as the registry client takes it — for composition roots only (the
 * agent, `berth image`, tests, benchmarks). undici types `dispatcher` precisely; we pass the `Agent`
 * made by `dispatcherFor`, so the cast loses nothing.
 */
export function globalFetch(): FetchFunction {
  return globalThis.fetch as unknown as FetchFunction;
}

export interface RegistryHttp {
  readonly fetch: FetchFunction;
  /** A dispatcher applying `tls`, or undefined for the default (system CAs, verification on). */
  dispatcherFor(tls: TlsSettings): unknown;
  /** Closes the dispatchers this object created. */
  close(): Promise<void>;
}

interface UndiciAgent {
  close(): Promise<void>;
}
type AgentConstructor = new (opts: { connect: Record<string, unknown> }) => UndiciAgent;

const globalDispatcherSymbol = Symbol.for('undici.globalDispatcher.1');

/**
 * The real transport over Node's bundled undici. `fetchImpl` is the global `fetch`, passed by the
 * composition root.
 */
export async function createNodeRegistryHttp(fetchImpl: FetchFunction): Promise<RegistryHttp> {
  // The global dispatcher is created lazily by the first fetch; a data: URL makes no connection.
  await fetchImpl('data:,', { redirect: 'manual' }).then(
    (r) => r.arrayBuffer(),
    () => undefined,
  );
  const globalDispatcher = (globalThis as Record<symbol, unknown>)[globalDispatcherSymbol];
  const Agent =
    typeof globalDispatcher === 'object' && globalDispatcher !== null
      ? (globalDispatcher.constructor as AgentConstructor | undefined)
      : undefined;
  const agents = new Map<string, UndiciAgent>();
  return {
    fetch: fetchImpl,
    dispatcherFor: (tls) => {
      if (tls.ca === undefined && tls.cert === undefined && tls.insecureSkipVerify !== true) return undefined;
      if (Agent === undefined) {
        throw new BerthError(
          errorCodes.IMAGE_REGISTRY,
          'custom registry TLS settings need an undici Agent, which this Node version does not expose',
        );
      }
      const key = JSON.stringify([tls.ca, tls.cert, tls.key, tls.insecureSkipVerify]);
      let agent = agents.get(key);
      if (agent === undefined) {
        agent = new Agent({
          connect: {
            // A custom CA is added to the system roots, as containerd does, not put in their place.
            ...(tls.ca === undefined ? {} : { ca: [...rootCertificates, tls.ca] }),
            ...(tls.cert === undefined ? {} : { cert: tls.cert }),
            ...(tls.key === undefined ? {} : { key: tls.key }),
            rejectUnauthorized: tls.insecureSkipVerify !== true,
          },
        });
        agents.set(key, agent);
      }
      return agent;
    },
    close: async () => {
      await Promise.all([...agents.values()].map((a) => a.close()));
      agents.clear();
    },
  };
}
