/**
 * The leaves of a REAL node (`berth agent --runtime runc`, `berth server --with-agent` as root): the
 * image service on disk (agent/images), the runc runtime, the bridge pod network, the real probe
 * transport, and the default log/exec stream handlers over that runtime — composed with the same pod
 * workers a simulated node uses (agent/hollow/simulated-node.ts is its fake twin).
 *
 * Layout under the agent's data dir:
 *
 *     images/      the image service (content, snapshots, container rootfs upper dirs)
 *     runc/        the runc runtime's durable records, bundles, FIFOs
 *     pods/        pod log directories (<ns>_<name>_<uid>/<container>/<n>.log), what `kubectl logs` reads
 *     volumes/     per-pod volume directories (emptyDir, configMap, secret)
 *     network/     the pod network's IPAM record
 *
 * runc's own state (`--root`) lives in tmpfs under /run/berth/<hash of the data dir>/runc, so that a
 * reboot clears it, as it clears the containers; the runtime then marks their records lost.
 *
 * The pod CIDR comes from the controller (NodeConfig): the factory subscribes the network to the
 * gateway client's `onNodeConfig`. Until it arrives, pod network set-up fails with "node has no pod
 * CIDR yet" and the pod workers retry.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock } from '../lib/clock.js';
import type { CommandRunner } from '../lib/command-runner.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { SpawnHelper } from '../lib/spawn-helper.js';
import type { PodManagerFactory } from './agent.js';
import type { DockerConfig } from './images/credentials.js';
import { LocalImageService } from './images/local-image-service.js';
import type { RegistriesConfig } from './images/registries-config.js';
import { createNodeRegistryHttp, globalFetch } from './images/registry-http.js';
import { BridgePodNetwork } from './network/bridge-pod-network.js';
import type { ObjectSource } from './object-source.js';
import { createPodManager } from './pods/pod-workers.js';
import { helperProcessLauncher } from './runtime/runc/process-launcher.js';
import { defaultRuncPath, RuncRuntime } from './runtime/runc/runc-runtime.js';
import { createStreamHandlers } from './streams/default-stream-handlers.js';
import type { StreamHandlers } from './streams/stream-types.js';

/** The runtime name real nodes report (Node `containerRuntimeVersion` is `runc://<version>`). */
export const runcRuntimeName = 'runc';

export interface RuncNodeOptions {
  readonly nodeName: string;
  readonly nodeIp: string;
  /** The agent's data dir; see the module header for what goes where. */
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the pod workers' and image service's metrics go; none when absent. */
  readonly registry?: Registry;
  readonly runcPath?: string;
  /** runc `--root`; default `/run/berth/<hash of dataDir>/runc`. */
  readonly runcRoot?: string;
  /** cgroupfs parent of pod cgroups; default `/berth`. */
  readonly cgroupRoot?: string;
  /** The node's bridge, netns prefix and nft table (defaults `berth0`, `berth-`, `berth`). */
  readonly bridgeName?: string;
  readonly netnsPrefix?: string;
  readonly nftTable?: string;
  /** Turn on ip_forward with the bridge (default true). */
  readonly ipForward?: boolean;
  /** The pod CIDR when known up front (otherwise from the controller's NodeConfig). */
  readonly podCidr?: string;
  readonly registries?: RegistriesConfig;
  readonly dockerConfig?: DockerConfig;
  /** ConfigMaps/Secrets for volumes and env; default: the agent's gateway (`NodeServices.objects`). */
  readonly objects?: ObjectSource;
  /**
   * Runs the runtime's and the network's programs (and the image service's). Default: the runtime's
   * and the network's go through a spawn helper process (lib/spawn-helper.ts), which also starts the
   * shims; the image service's through `execFile`.
   */
  readonly runner?: CommandRunner;
  readonly relistIntervalMs?: number;
}

/** A real node's parts; `factory` and `streams` go to `startAgent`. */
export interface RuncNode {
  readonly factory: PodManagerFactory;
  readonly streams: StreamHandlers;
  readonly runtime: RuncRuntime;
  readonly images: LocalImageService;
  readonly network: BridgePodNetwork;
  readonly podLogsDir: string;
  /** Closes the runtime's log readers, the image service and the network (containers and pod netns stay, to be adopted). */
  close(): Promise<void>;
}

/** Why this host cannot run the runc runtime (so callers can fall back with a warning), or undefined. */
export function runcNodeUnavailable(runcPath = defaultRuncPath()): string | undefined {
  if (process.platform !== 'linux') return 'the runc runtime needs Linux';
  if (process.getuid?.() !== 0) return 'the runc runtime needs root (mounts, cgroups, network namespaces)';
  try {
    accessSync(runcPath, constants.X_OK);
  } catch {
    return `no runc binary at ${runcPath} (install the runc package)`;
  }
  try {
    if (!/\boverlay\b/.test(readFileSync('/proc/filesystems', 'utf8'))) return 'the kernel has no overlayfs';
  } catch {
    return 'cannot read /proc/filesystems';
  }
  if (!existsSync('/sys/fs/cgroup')) return 'no cgroup filesystem at /sys/fs/cgroup';
  return undefined;
}

/** Default runc `--root` for a data dir: in tmpfs, one per data dir (several agents may share a host). */
export function defaultRuncRoot(dataDir: string): string {
  const tag = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
  return `/run/berth/${tag}/runc`;
}

interface NodeConfigSource {
  onNodeConfig(listener: (cfg: { readonly podCidr: string }) => void): void;
}

function isNodeConfigSource(x: unknown): x is NodeConfigSource {
  return typeof (x as Partial<NodeConfigSource> | null)?.onNodeConfig === 'function';
}

/** Opens the image service and builds the runtime and network of a real node. */
export async function createRuncNode(opts: RuncNodeOptions): Promise<RuncNode> {
  const logger = opts.logger;
  const podLogsDir = join(opts.dataDir, 'pods');
  const cgroupRoot = opts.cgroupRoot ?? '/berth';
  const http = await createNodeRegistryHttp(globalFetch());
  let images: LocalImageService;
  try {
    images = await LocalImageService.open({
      root: join(opts.dataDir, 'images'),
      http,
      clock: opts.clock,
      logger: logger.child({ component: 'images' }),
      ...(opts.registry === undefined ? {} : { metricsRegistry: opts.registry }),
      ...(opts.registries === undefined ? {} : { registries: opts.registries }),
      ...(opts.dockerConfig === undefined ? {} : { dockerConfig: opts.dockerConfig }),
      ...(opts.runner === undefined ? {} : { runner: opts.runner }),
    });
  } catch (err) {
    await http.close();
    throw err;
  }
  // Forking from this big process blocks the event loop ~15–30 ms per program; a small helper
  // process does it instead (nine programs per pod).
  let helper: SpawnHelper | undefined;
  if (opts.runner === undefined) {
    try {
      helper = new SpawnHelper();
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'no spawn helper; programs are started from the agent');
    }
  }
  const runner = opts.runner ?? helper;
  const network = new BridgePodNetwork({
    stateDir: join(opts.dataDir, 'network'),
    logger: logger.child({ component: 'pod-network' }),
    clock: opts.clock,
    ...(opts.bridgeName === undefined ? {} : { bridgeName: opts.bridgeName }),
    ...(opts.netnsPrefix === undefined ? {} : { netnsPrefix: opts.netnsPrefix }),
    ...(opts.nftTable === undefined ? {} : { nftTable: opts.nftTable }),
    ...(opts.ipForward === undefined ? {} : { ipForward: opts.ipForward }),
    ...(opts.podCidr === undefined ? {} : { podCidr: opts.podCidr }),
    ...(runner === undefined ? {} : { runner }),
  });
  const runtime = new RuncRuntime({
    ...(opts.runcPath === undefined ? {} : { runcPath: opts.runcPath }),
    root: opts.runcRoot ?? defaultRuncRoot(opts.dataDir),
    stateDir: join(opts.dataDir, 'runc'),
    cgroupRoot,
    rootfs: images,
    logger,
    clock: opts.clock,
    ...(runner === undefined ? {} : { runner }),
    ...(helper === undefined ? {} : { launcher: helperProcessLauncher(helper) }),
    networkStatus: () => network.status(),
  });
  // Load the records (and adopt running containers) before the pod workers look at the runtime.
  try {
    await runtime.ready();
  } catch (err) {
    await helper?.close();
    throw err;
  }
  const streams = createStreamHandlers({ runtime, podLogsDir, clock: opts.clock });

  const factory: PodManagerFactory = (reporter, services) => {
    if (isNodeConfigSource(reporter)) {
      reporter.onNodeConfig((cfg) => {
        if (cfg.podCidr !== '') network.setPodCidr(cfg.podCidr);
      });
    } else if (opts.podCidr === undefined) {
      logger.warn('the pod reporter gives no NodeConfig and no pod CIDR was set: pods will get no network');
    }
    return createPodManager({
      runtime,
      images,
      network,
      reporter,
      clock: opts.clock,
      logger,
      nodeName: opts.nodeName,
      nodeIP: opts.nodeIp,
      podLogsDir,
      cgroupRoot,
      volumesDir: join(opts.dataDir, 'volumes'),
      objects: opts.objects ?? services.objects,
      ...(opts.registry === undefined ? {} : { registry: opts.registry }),
      ...(opts.relistIntervalMs === undefined ? {} : { relistIntervalMs: opts.relistIntervalMs }),
    });
  };

  return {
    factory,
    streams,
    runtime,
    images,
    network,
    podLogsDir,
    close: async () => {
      await runtime.close();
      await network.close();
      await images.close();
      await http.close();
      // Shims it started are in their own sessions and carry on.
      await helper?.close();
    },
  };
}
