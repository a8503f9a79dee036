/**
 * The composition root of `berth agent` (and of each hollow agent): builds the node identity, the
 * host facts, the gateway client and the pod manager, wires them together and starts them.
 * Everything is injected — the pod manager through a factory that receives the gateway client as
 * its `PodReporter` — so the real agent, hollow agents and tests compose the same parts.
 *
 * The gateway address: agents are given the API server's URL (`--server https://HOST:6443`, what a
 * kubeconfig holds); the gateway is taken to be on the same host at port 6444 unless `gateway`
 * names it. (One address to hand out, no discovery round trip; the price is a second flag when the
 * controller's agent port is not the default.)
 */
import { mkdir } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';
import { isDNS1123Subdomain } from '../api/validation/names.js';
import { realClock, type Clock } from '../lib/clock.js';
import { BerthError, errorCodes, errorMessage, isBerthError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { createMetricsRegistry } from '../lib/metrics.js';
import { berthVersion } from '../lib/version.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { GatewayClient, type Registration } from './gateway-client.js';
import { detectHostInfo, detectNodeIp, type HostInfo } from './host-info.js';
import { serveMetrics, type MetricsServer } from './metrics-server.js';
import { GatewayObjectSource, type ObjectSource } from './object-source.js';
import { grpcTarget, NodeIdentity } from './node-identity.js';
import type { DesiredPods, PodReporter } from './pods/pod-manager.js';
import type { StreamHandlers } from './streams/stream-types.js';

/** The controller's default agent port. */
export const defaultGatewayPort = 6444;

/** What the agent's connection to the controller offers the pod manager besides reporting. */
export interface NodeServices {
  /** ConfigMaps and Secrets that this node's pods reference (node-authorized `GetObject`). */
  readonly objects: ObjectSource;
}

/** Builds the pod manager, given where it reports to and the node's other controller services. */
export type PodManagerFactory = (
  reporter: PodReporter,
  services: NodeServices,
) => DesiredPods & { close(): Promise<void> };

export interface AgentOptions {
  /** The API server URL, e.g. `https://10.0.0.1:6443`; the gateway host defaults to its host. */
  readonly server: string;
  /** The controller's agent endpoint, when not `<server host>:6444`. */
  readonly gateway?: { readonly host: string; readonly port: number };
  /** Join token (`K10<ca hash>::<id>:<secret>`), used when the data dir holds no usable identity. */
  readonly token: string;
  readonly dataDir: string;
  readonly nodeName: string;
  /** The node's InternalIP; detected from the interfaces if absent. */
  readonly nodeIp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly runtime: { readonly name: string; readonly version: string };
  readonly podManagerFactory: PodManagerFactory;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** The agent's metrics registry (the pod manager may register on it too); a new one if absent. */
  readonly registry?: Registry;
  /** Serve /metrics here; not served if absent. Port 0 picks a free port. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  /** Host facts to report instead of the real host's (hollow agents). */
  readonly host?: HostInfo;
  /** The cluster CA, for a token without a CA hash. */
  readonly caPem?: string;
  readonly heartbeatIntervalMs?: number;
  readonly backoff?: BackoffOptions;
  /** Serves `kubectl logs` / `exec` (agent/streams/default-stream-handlers.ts); refused if absent. */
  readonly streams?: StreamHandlers;
  /** Aborts a start that is still waiting for the controller to be reachable. */
  readonly signal?: AbortSignal;
}

export interface RunningAgent {
  readonly nodeName: string;
  /** The runtime's name as the Node reports it (`runc`, `containerd`, `fake`). */
  readonly runtimeName: string;
  /** The gateway dialled, `HOST:PORT`. */
  readonly gatewayTarget: string;
  /** Where /metrics is served, if it is. */
  readonly metricsAddress?: string;
  readonly client: GatewayClient;
  /** Stops the stream, the pod manager and the metrics server. */
  close(): Promise<void>;
}

/**
 * Starts an agent: obtains the node identity (joining if needed — retried while the controller is
 * unreachable, thrown as `JOIN_REFUSED`/`CONFIG_INVALID` when it refuses), then connects and keeps
 * connected in the background. Resolves once joined; the stream comes up on its own.
 */
export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const clock = opts.clock ?? realClock;
  const log = opts.logger.child({ node: opts.nodeName });
  const problems = isDNS1123Subdomain(opts.nodeName);
  if (problems.length > 0) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `invalid node name "${opts.nodeName}": ${problems.join('; ')} (set --node-name)`,
    );
  }
  try {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `data dir ${opts.dataDir}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const gateway = opts.gateway ?? gatewayFromServerUrl(opts.server);
  const target = grpcTarget(gateway.host, gateway.port);
  const identity = new NodeIdentity({
    dataDir: opts.dataDir,
    nodeName: opts.nodeName,
    token: opts.token,
    gateway,
    ...(opts.caPem === undefined ? {} : { caPem: opts.caPem }),
    clock,
    logger: log,
  });
  await firstIdentity(identity, clock, log, target, opts.signal);

  const host = opts.host ?? (await detectHostInfo({ dataDir: opts.dataDir }));
  const nodeIp = opts.nodeIp ?? detectNodeIp();
  const registry = opts.registry ?? createMetricsRegistry();
  new Gauge({
    name: 'kubelet_node_name',
    help: "The node's name. The count is always 1.",
    labelNames: ['node'],
    registers: [registry],
  }).set({ node: opts.nodeName }, 1);
  let metrics: MetricsServer | undefined;
  if (opts.metricsListen !== undefined) {
    metrics = await serveMetrics(registry, opts.metricsListen.host, opts.metricsListen.port);
  }
  const metricsAddress =
    metrics === undefined
      ? ''
      : isWildcard(opts.metricsListen?.host ?? '')
        ? grpcTarget(nodeIp, metrics.port)
        : metrics.address;

  const version = berthVersion().version;
  const registration = (): Registration => ({
    nodeName: opts.nodeName,
    capacity: host.capacity,
    allocatable: host.allocatable,
    labels: { ...opts.labels },
    addresses: [
      { type: 'InternalIP', address: nodeIp },
      { type: 'Hostname', address: opts.nodeName },
    ],
    runtimeName: opts.runtime.name,
    runtimeVersion: opts.runtime.version,
    agentVersion: version,
    metricsAddress,
    operatingSystem: host.operatingSystem,
    architecture: host.architecture,
    kernelVersion: host.kernelVersion,
    osImage: host.osImage,
    bootId: host.bootId,
  });
  const client = new GatewayClient({
    target,
    credentials: identity,
    registration,
    clock,
    logger: log,
    registry,
    ...(opts.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: opts.heartbeatIntervalMs }),
    ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
    ...(opts.streams === undefined ? {} : { streams: opts.streams }),
  });
  const objects = new GatewayObjectSource({ target, credentials: identity, clock });
  const pods = opts.podManagerFactory(client, { objects });
  client.start(pods);
  log.info(
    { gateway: target, nodeIp, metrics: metricsAddress === '' ? undefined : metricsAddress },
    'agent started',
  );
  return {
    nodeName: opts.nodeName,
    runtimeName: opts.runtime.name,
    gatewayTarget: target,
    ...(metrics === undefined ? {} : { metricsAddress }),
    client,
    close: async () => {
      await client.close();
      await pods.close();
      objects.close();
      await metrics?.close();
    },
  };
}

/** The gateway for an API server URL: its host, port 6444. Throws `CONFIG_INVALID` for a bad URL. */
export function gatewayFromServerUrl(server: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(server);
  } catch (err) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `--server ${server}: not a URL (expected https://HOST:6443)`,
      { cause: err },
    );
  }
  if (url.protocol !== 'https:' || url.hostname === '') {
    throw new BerthError(errorCodes.CONFIG_INVALID, `--server ${server}: expected https://HOST:6443`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: defaultGatewayPort };
}

/** Obtains the identity, retrying while the controller is unreachable. */
async function firstIdentity(
  identity: NodeIdentity,
  clock: Clock,
  log: Logger,
  target: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const backoff = new Backoff({ initialMs: 500, maxMs: 10_000 });
  for (;;) {
    try {
      await identity.current();
      return;
    } catch (err) {
      if (!isBerthError(err, errorCodes.PROCESS_FAILED)) throw err;
      const delay = backoff.next();
      log.warn(
        { gateway: target, err: errorMessage(err), retryInMs: delay },
        'controller not reachable yet; retrying',
      );
      await clock.sleep(delay, signal);
    }
  }
}

function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::';
}
