/**
 * The composition root of `berth server`: opens the store (embedded SQLite or etcd), bootstraps the
 * PKI and kubeconfig, seeds the built-in namespaces, starts compaction, and serves the API over HTTPS.
 * Everything is constructed here and injected; nothing below reaches for globals.
 */
import { mkdirSync, accessSync, constants, statSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { findResource, type ResourceInfo } from '../api/resources.js';
import { isApiError } from '../api/status.js';
import { realClock, type Clock } from '../lib/clock.js';
import { BerthError, errorCodes, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { createMetricsRegistry } from '../lib/metrics.js';
import { loadOrCreateServerSecrets } from './bootstrap/server-secrets.js';
import { ApiServer } from './apiserver/api-server.js';
import { ApiServerMetrics } from './apiserver/apiserver-metrics.js';
import { prometheusSdTargets } from './apiserver/prometheus-sd.js';
import { defaultAdmission } from './apiserver/admission.js';
import { DefaultPatchEngine, defaultSelectors, defaultTables } from './apiserver/engines.js';
import { ResourceHandler } from './apiserver/resource-handler.js';
import { ResourceStorage } from './apiserver/resource-storage.js';
import { WatchCache, type WatchCacheOptions } from './apiserver/watch-cache.js';
import { ControllerManager } from './controllers/controller-manager.js';
import { garbageCollectorController } from './controllers/garbage-collector.js';
import { namespaceController } from './controllers/namespace-controller.js';
import { deploymentController } from './controllers/deployment-controller.js';
import { replicaSetController } from './controllers/replica-set-controller.js';
import { daemonSetController } from './controllers/daemon-set-controller.js';
import { jobController } from './controllers/job-controller.js';
import { nodeLifecycleController } from './controllers/node-lifecycle-controller.js';
import { podGcController } from './controllers/pod-gc-controller.js';
import { nodeIpamController, DEFAULT_CLUSTER_CIDR } from './controllers/node-ipam-controller.js';
import { schedulerController } from './scheduler/scheduler-controller.js';
import { startServerAgentGateway, type AgentGateway, type AgentListen } from './gateway/agent-gateway.js';
import { Compactor } from './store/compactor.js';
import { openEtcdStore } from './store/etcd-store.js';
import { openSqliteStore } from './store/sqlite-store.js';
import type { Store } from './store/store.js';

const nodesResource = findResource('', 'v1', 'nodes') as ResourceInfo;

export interface ServerOptions {
  readonly dataDir: string;
  readonly listenHost: string;
  readonly listenPort: number;
  readonly store: 'sqlite' | 'etcd';
  readonly etcdEndpoints?: readonly string[];
  /** Key prefix inside etcd, so several clusters can share one (default `/berth`). */
  readonly etcdPrefix?: string;
  /** History kept for watches before compaction (default 5 minutes). */
  readonly compactionWindowMs?: number;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Where to serve agents (gRPC, default port 6444); no agent gateway when absent. */
  readonly agentListen?: AgentListen;
  /** Watch cache tuning, or false to serve every LIST and WATCH from the store (for comparisons). */
  readonly watchCache?: false | Omit<WatchCacheOptions, 'store' | 'clock' | 'logger' | 'registry'>;
  /** Silence after which a node is marked Ready=Unknown (default 8 s; `--node-monitor-grace-period`). */
  readonly nodeMonitorGracePeriodMs?: number;
  /** Seconds pods tolerate not-ready/unreachable nodes unless they say otherwise (default 4). */
  readonly defaultTolerationSeconds?: number;
  /** The range nodes' pod CIDRs are cut from (default 10.42.0.0/16; `--cluster-cidr`). */
  readonly clusterCidr?: string;
  /** Prefix length of each node's pod CIDR (default 24; `--node-cidr-mask-size`). */
  readonly nodeCidrMaskSize?: number;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly kubeconfigPath: string;
  readonly adminToken: string;
  readonly caCertPem: string;
  readonly store: Store;
  /** The agent gateway, when one runs (node heartbeats for the node-lifecycle controller). */
  readonly agentGateway?: AgentGateway;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const clock = opts.clock ?? realClock;
  const log = opts.logger;
  prepareDataDir(opts.dataDir);
  const secrets = await loadOrCreateServerSecrets({
    dataDir: opts.dataDir,
    listenHost: opts.listenHost,
    listenPort: opts.listenPort,
    hostname: hostname(),
    now: clock.now(),
    logger: log.child({ component: 'bootstrap' }),
  });
  const store = await openStore(opts, clock, log);
  const compactor = new Compactor({
    store,
    clock,
    logger: log.child({ component: 'compactor' }),
    ...(opts.compactionWindowMs === undefined ? {} : { windowMs: opts.compactionWindowMs }),
  });
  let server: Server | undefined;
  let agentGateway: AgentGateway | undefined;
  let controllers: ControllerManager | undefined;
  let watchCache: WatchCache | undefined;
  try {
    const storage = new ResourceStorage({ store, clock, admission: defaultAdmission });
    await seedNamespaces(storage);
    compactor.start();
    const registry = createMetricsRegistry();
    agentGateway = await startServerAgentGateway(opts.agentListen, {
      storage,
      ca: { certPem: secrets.caCertPem, keyPem: secrets.caKeyPem },
      dataDir: opts.dataDir,
      extraServingHosts: [opts.listenHost],
      clock,
      logger: log.child({ component: 'agent-gateway' }),
      registry,
      // Sent to agents in NodeConfig with their own spec.podCIDR.
      clusterCidr: opts.clusterCidr ?? DEFAULT_CLUSTER_CIDR,
    });
    if (opts.watchCache !== false) {
      // One store watch feeds every LIST and WATCH (kube-apiserver's cacher); until it has filled,
      // requests read the store.
      watchCache = new WatchCache({
        ...opts.watchCache,
        store,
        clock,
        logger: log.child({ component: 'watch-cache' }),
        registry,
      });
      await watchCache.start();
    }
    const handler = new ResourceHandler({
      storage,
      clock,
      patches: new DefaultPatchEngine(),
      selectors: defaultSelectors,
      tables: defaultTables,
      ...(watchCache === undefined ? {} : { watchCache }),
    });
    const api = new ApiServer({
      resources: handler,
      metrics: new ApiServerMetrics(registry, store),
      registry,
      logger: log.child({ component: 'apiserver' }),
      tokens: [{ token: secrets.adminToken, user: 'admin' }],
      serverAddress: `${opts.listenHost}:${opts.listenPort}`,
      ...(agentGateway === undefined
        ? {}
        : {
            podStreams: {
              storage,
              tunnels: agentGateway.tunnels,
              clock,
              logger: log.child({ component: 'pod-streams' }),
            },
          }),
      prometheusSd: async (controllerAddress) =>
        prometheusSdTargets((await storage.list(nodesResource, undefined)).items, controllerAddress),
      ready: async () => {
        try {
          await store.currentRevision();
          return true;
        } catch {
          return false;
        }
      },
    });
    const srv = createServer({ cert: secrets.servingCertPem, key: secrets.servingKeyPem }, api.listener);
    srv.on('upgrade', api.upgradeListener);
    server = srv;
    // Watches are long-lived; Node's default request timeout (5 min) would cut them.
    srv.requestTimeout = 0;
    srv.keepAliveTimeout = 65_000;
    await listen(srv, opts.listenHost, opts.listenPort);
    const address = srv.address();
    const port = typeof address === 'object' && address !== null ? address.port : opts.listenPort;
    const host = opts.listenHost === '0.0.0.0' || opts.listenHost === '::' ? '127.0.0.1' : opts.listenHost;
    const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    // In-process controllers (garbage collector, namespace deletion) write through the storage.
    controllers = new ControllerManager({
      storage,
      clock,
      logger: log,
      metrics: registry,
      host: hostname(),
      controllers: [
        garbageCollectorController(),
        namespaceController(),
        schedulerController(),
        replicaSetController(),
        deploymentController(),
        daemonSetController(),
        jobController(),
        podGcController(),
        nodeIpamController({
          ...(opts.clusterCidr === undefined ? {} : { clusterCidr: opts.clusterCidr }),
          ...(opts.nodeCidrMaskSize === undefined ? {} : { nodeCidrMaskSize: opts.nodeCidrMaskSize }),
        }),
        nodeLifecycleController({
          ...(agentGateway === undefined ? {} : { heartbeats: agentGateway }),
          ...(opts.nodeMonitorGracePeriodMs === undefined
            ? {}
            : { gracePeriodMs: opts.nodeMonitorGracePeriodMs }),
          ...(opts.defaultTolerationSeconds === undefined
            ? {}
            : { defaultTolerationSeconds: opts.defaultTolerationSeconds }),
        }),
      ],
    });
    controllers.start();
    log.info({ url, kubeconfig: secrets.kubeconfigPath, store: store.backend }, 'berth server ready');
    return {
      url,
      port,
      kubeconfigPath: secrets.kubeconfigPath,
      adminToken: secrets.adminToken,
      caCertPem: secrets.caCertPem,
      store,
      ...(agentGateway === undefined ? {} : { agentGateway }),
      close: async () => {
        await agentGateway?.close();
        await controllers?.close();
        await watchCache?.stop();
        await new Promise<void>((resolve) => {
          srv.close(() => {
            resolve();
          });
          srv.closeAllConnections();
        });
        await compactor.stop();
        await store.close();
      },
    };
  } catch (err) {
    server?.close();
    await agentGateway?.close();
    await controllers?.close();
    await watchCache?.stop();
    await compactor.stop();
    await store.close();
    throw err;
  }
}

function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `data dir ${dir} is not usable (${errorMessage(err)}): pass --data-dir with a writable directory`,
      { cause: err },
    );
  }
}

async function openStore(opts: ServerOptions, clock: Clock, log: Logger): Promise<Store> {
  switch (opts.store) {
    case 'sqlite':
      return openSqliteStore({
        path: join(opts.dataDir, 'state.db'),
        clock,
        logger: log.child({ component: 'store' }),
      });
    case 'etcd': {
      const endpoints = opts.etcdEndpoints ?? [];
      if (endpoints.length === 0) {
        throw new BerthError(
          errorCodes.CONFIG_INVALID,
          '--store etcd needs --etcd-endpoints (e.g. http://127.0.0.1:2379)',
        );
      }
      return openEtcdStore({
        endpoints: [...endpoints],
        prefix: opts.etcdPrefix ?? '/berth',
        clock,
        logger: log.child({ component: 'store' }),
      });
    }
  }
}

/** `default`, `kube-system`, `kube-public` and `kube-node-lease` exist from the start, as in Kubernetes. */
async function seedNamespaces(storage: ResourceStorage): Promise<void> {
  const namespaces = findResource('', 'v1', 'namespaces') as ResourceInfo;
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    try {
      await storage.create(namespaces, undefined, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      });
    } catch (err) {
      if (!(isApiError(err) && err.status.code === 409)) throw err;
    }
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        err.code === 'EADDRINUSE'
          ? new BerthError(
              errorCodes.CONFIG_INVALID,
              `cannot listen on ${host}:${port}: the port is already in use; pick another with --listen`,
              { cause: err },
            )
          : new BerthError(errorCodes.CONFIG_INVALID, `cannot listen on ${host}:${port}: ${err.message}`, {
              cause: err,
            }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
