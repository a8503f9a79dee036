/**
 * The pod manager: implements `DesiredPods` (pod-manager.ts) over one `PodWorker` per pod uid, and
 * owns the agent's only pod timer. Each tick (default every second, kubelet's PLEG relist period):
 *
 * 1. relist — one `listContainers` + `listPodSandboxes` for the node; pods whose containers or
 *    sandboxes changed state get a turn (so an exit is noticed without any update from the
 *    controller); pods the runtime holds but the controller does not list become orphans and are
 *    stopped and removed (only after the first full `sync()`, so a slow connect kills nothing);
 * 2. probes — every probe that is due starts (prober.ts);
 * 3. wake-ups — workers whose back-off or retry time has come get a turn;
 * 4. resync — every `resyncIntervalMs` (default 60 s) every syncing pod gets a turn anyway.
 *
 * Pods whose containers started recently are "hot": a container that exits at once (a Job's quick
 * command, a crash on start-up) is where the kubelet's one-second relist shows most, so for
 * `hotWindowMs` (default 10 s) after a container's start its pod alone is relisted every
 * `hotRelistIntervalMs` (default 100 ms) — a change gives the pod a turn, as the full relist would.
 * The runtime seam has no exit events to wait on; this costs two list calls per hot pod and tick,
 * and nothing once no pod is hot. It is the same timer, armed for whichever comes first.
 *
 * Nothing else sets timers, so a process can hold a thousand managers of ten pods each (hollow
 * agents). After an agent restart a new manager over the same runtime adopts what runs: a worker's
 * first turn reads the runtime by pod-uid label and starts only what is missing.
 */
import type { Registry } from 'prom-client';
import type { Clock, Timer } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { errorMessage } from '../../lib/errors.js';
import type { StoredObject } from '../../api/object.js';
import type { ImageService, RegistryCredentials } from '../images/image-service.js';
import type { Container, PodSandbox, Runtime } from '../runtime/runtime.js';
import { runtimeLabels } from '../runtime/labels.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { DesiredPods, PodReporter } from './pod-manager.js';
import { createPodMetrics, type PodMetrics } from './pod-metrics.js';
import type { PodNetwork } from './pod-network.js';
import { canonicalJson, parsePod, type PodView } from './pod-spec.js';
import { PodSyncer, type PodEventFn } from './pod-sync.js';
import { PodWorker, type PodOperation, type PodWorkerHost } from './pod-worker.js';
import { createNetProbeTransport } from './net-probe-transport.js';
import { createProber, ProbeManager, type Prober, type ProbeTransport } from './prober.js';
import type { CommandRunner } from '../../lib/command-runner.js';
import type { ObjectSource } from '../object-source.js';
import { VolumeManager } from './volumes/volume-manager.js';

export interface PodManagerOptions {
  readonly runtime: Runtime;
  readonly images: ImageService;
  readonly network: PodNetwork;
  readonly reporter: PodReporter;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the kubelet_* metrics go; one manager per registry. Absent: not exported. */
  readonly registry?: Registry;
  readonly nodeName: string;
  /** The node's address: `status.hostIP`, and `podIP` of hostNetwork pods. */
  readonly nodeIP?: string;
  /** CrashLoopBackOff: 10 s doubling to 5 min, reset after 10 min (kubelet's defaults). */
  readonly backoff?: BackoffOptions;
  /** ImagePullBackOff; same defaults. */
  readonly imagePullBackoff?: BackoffOptions;
  /** Relist / probe / wake-up tick, ms. Default 1000. */
  readonly relistIntervalMs?: number;
  /** Relist period of "hot" pods (a container started within `hotWindowMs`), ms. Default 100. */
  readonly hotRelistIntervalMs?: number;
  /**
   * How long after a container's start its pod stays hot, ms; 0 turns hot relisting off. Default
   * 10 000 with the default relist period, else 0: a manager told to relist slowly to save CPU
   * (hollow fleets) does not want a fast relist either.
   */
  readonly hotWindowMs?: number;
  /** Every syncing pod gets a turn at least this often, ms. Default 60 000. */
  readonly resyncIntervalMs?: number;
  /** Retry delay after errors without a back-off of their own, ms. Default 10 000. */
  readonly errorRetryMs?: number;
  /** Directory for per-pod log directories. Default `/var/log/pods`. */
  readonly podLogsDir?: string;
  /** cgroupfs parent of pod cgroups (`<root>/pod<uid>`); absent: the runtime's default. */
  readonly cgroupRoot?: string;
  /**
   * Network I/O for HTTP/TCP probes. Default: the real one (`createNetProbeTransport`); hollow agents,
   * whose pod IPs lead nowhere, pass `alwaysHealthyTransport`.
   */
  readonly probeTransport?: ProbeTransport;
  /** Replaces the default prober (exec via runtime, network via `probeTransport`). */
  readonly prober?: Prober;
  /** Registry credentials for a pod's pulls (imagePullSecrets), when known. */
  readonly pullCredentials?: (pod: PodView) => ReadonlyMap<string, RegistryCredentials> | undefined;
  /** Where ConfigMaps and Secrets are read (volumes, env); absent: references to them fail. */
  readonly objects?: ObjectSource;
  /**
   * Parent of the per-pod volume directories (kubelet: /var/lib/kubelet/pods). Setting it enables
   * the volume manager; absent (simulated nodes) only hostPath volumes are mounted, unchecked, and
   * other volumes are skipped. Every runtime that starts real containers must set it.
   */
  readonly volumesDir?: string;
  /** How often a pod's configMap/secret volumes are re-read, ms (default 60 000, the kubelet's TTL). */
  readonly volumeRefreshIntervalMs?: number;
  /** Runs mount/umount for tmpfs volumes (default: the real programs). */
  readonly mountRunner?: CommandRunner;
}

/** `DesiredPods` plus what the agent needs to run and stop the manager. */
export interface PodManager extends DesiredPods {
  /**
   * Stops the tick and waits for turns in flight (which are cancelled). Containers keep running: a
   * new manager over the same runtime adopts them.
   */
  close(): Promise<void>;
  /** Resolves when no worker has a turn in flight or queued (tests, benchmarks). */
  idle(): Promise<void>;
  /** A snapshot for debugging and tests: lifecycle per pod uid. */
  workers(): ReadonlyMap<string, { readonly lifecycle: string; readonly orphan: boolean }>;
}

const maxTombstones = 10_000;
/** Up to this many hot pods are relisted one by one; more, with one node-wide listing. */
const hotPerPodLimit = 4;

export function createPodManager(opts: PodManagerOptions): PodManager {
  return new PodWorkers(opts);
}

class PodWorkers implements PodManager, PodWorkerHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly syncer: PodSyncer;
  readonly reporter: PodReporter;
  readonly metrics: PodMetrics;
  readonly probes: ProbeManager;
  readonly runtimeName: string;
  readonly nodeIP?: string;
  readonly errorRetryMs: number;

  readonly #runtime: Runtime;
  readonly #nodeName: string;
  readonly #resyncMs: number;
  readonly #workers = new Map<string, PodWorker>();
  /** Uids whose worker finished and was dropped: a late update must not start them again. */
  readonly #tombstones = new Set<string>();
  /** Spec fingerprints, to skip turns for updates that change only status (our own echoes). */
  readonly #specKeys = new Map<string, string>();
  readonly #relistMs: number;
  /** The manager's one timer: armed for the next full tick, or sooner for the next hot tick. */
  #timer: Timer | undefined;
  #timerAt = Infinity;
  #nextFullAt: number;
  #sourcesReady = false;
  #closed = false;
  #ticking = false;
  #tickDone: Promise<void> = Promise.resolve();
  #lastResync: number;
  /** uid → fingerprint of its containers' and sandboxes' states at the last relist. */
  #fingerprints = new Map<string, string>();
  #runningPods = 0;
  #containersByState = new Map<string, number>();
  readonly #hotRelistMs: number;
  readonly #hotWindowMs: number;
  /** uid → until when the pod is relisted on the fast timer. */
  readonly #hot = new Map<string, number>();
  #hotTicking = false;
  #hotDone: Promise<void> = Promise.resolve();
  readonly #idleWaiters: (() => void)[] = [];

  constructor(opts: PodManagerOptions) {
    this.clock = opts.clock;
    this.logger = opts.logger.child({ component: 'pod-workers', node: opts.nodeName });
    this.reporter = opts.reporter;
    this.#runtime = opts.runtime;
    this.#nodeName = opts.nodeName;
    this.runtimeName = opts.runtime.name;
    if (opts.nodeIP !== undefined) this.nodeIP = opts.nodeIP;
    this.errorRetryMs = opts.errorRetryMs ?? 10_000;
    this.#resyncMs = opts.resyncIntervalMs ?? 60_000;
    this.#relistMs = opts.relistIntervalMs ?? 1000;
    this.#nextFullAt = opts.clock.now() + this.#relistMs;
    this.#hotRelistMs = opts.hotRelistIntervalMs ?? 100;
    this.#hotWindowMs = opts.hotWindowMs ?? (this.#relistMs <= 1000 ? 10_000 : 0);
    this.#lastResync = opts.clock.now();
    this.metrics = createPodMetrics(opts.registry, {
      runningPods: () => this.#runningPods,
      containersByState: () => this.#containersByState,
      desiredPods: () => [...this.#workers.values()].filter((w) => !w.orphan && !w.apiGone).length,
      workingPods: () => {
        const out = new Map<string, { lifecycle: string; config: string; count: number }>();
        for (const w of this.#workers.values()) {
          const lifecycle = w.lifecycle === 'syncing' ? 'sync' : w.lifecycle;
          const config = w.orphan ? 'runtime_only' : w.apiGone ? 'orphan' : 'desired';
          const k = `${lifecycle}/${config}`;
          const e = out.get(k) ?? { lifecycle, config, count: 0 };
          e.count++;
          out.set(k, e);
        }
        return out;
      },
    });
    const prober =
      opts.prober ?? createProber(opts.runtime, opts.probeTransport ?? createNetProbeTransport());
    this.probes = new ProbeManager(prober, (e) => {
      const w = this.#workers.get(e.podUid);
      if (this.#closed || w?.pod === undefined) return;
      if (!e.outcome.success) {
        const kind = `${e.kind.charAt(0).toUpperCase()}${e.kind.slice(1)}`;
        this.#event(w.pod, 'Warning', 'Unhealthy', `${kind} probe failed: ${e.outcome.message}`.trim(), {
          name: e.container.name,
          type: 'app',
        });
      }
      if (e.changed) w.kick('sync');
    });
    this.syncer = new PodSyncer({
      runtime: opts.runtime,
      images: opts.images,
      network: opts.network,
      clock: opts.clock,
      logger: this.logger,
      probes: this.probes,
      prober,
      metrics: this.metrics,
      crashBackoff: new Backoff(opts.backoff),
      pullBackoff: new Backoff(opts.imagePullBackoff),
      config: {
        nodeName: opts.nodeName,
        ...(opts.nodeIP !== undefined ? { nodeIP: opts.nodeIP } : {}),
        podLogsDir: opts.podLogsDir ?? '/var/log/pods',
        ...(opts.cgroupRoot !== undefined ? { cgroupRoot: opts.cgroupRoot } : {}),
      },
      runtimeName: opts.runtime.name,
      errorRetryMs: this.errorRetryMs,
      event: (pod, type, reason, message, container) => {
        this.#event(pod, type, reason, message, container);
      },
      ...(opts.pullCredentials !== undefined ? { pullCredentials: opts.pullCredentials } : {}),
      ...(opts.objects !== undefined ? { objects: opts.objects } : {}),
      ...(opts.volumesDir !== undefined
        ? {
            volumes: new VolumeManager({
              rootDir: opts.volumesDir,
              clock: opts.clock,
              logger: this.logger,
              ...(opts.objects !== undefined ? { objects: opts.objects } : {}),
              ...(opts.volumeRefreshIntervalMs !== undefined
                ? { refreshIntervalMs: opts.volumeRefreshIntervalMs }
                : {}),
              ...(opts.mountRunner !== undefined ? { runner: opts.mountRunner } : {}),
            }),
          }
        : {}),
    });
    this.#arm();
  }

  // ---- DesiredPods ------------------------------------------------------------------------

  sync(pods: readonly StoredObject[]): void {
    if (this.#closed) return;
    this.#sourcesReady = true;
    const seen = new Set<string>();
    for (const obj of pods) {
      const uid = this.#update(obj, true);
      if (uid !== undefined) seen.add(uid);
    }
    for (const [uid, w] of this.#workers) if (!seen.has(uid) && !w.orphan) this.remove(uid);
  }

  update(pod: StoredObject): void {
    if (this.#closed) return;
    this.#update(pod, false);
  }

  remove(uid: string): void {
    if (this.#closed) return;
    const w = this.#workers.get(uid);
    if (w === undefined) return;
    w.apiGone = true;
    this.#specKeys.delete(uid);
    w.interruptIfStale();
    w.kick('kill');
  }

  // ---- PodManager ---------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await Promise.all([this.#tickDone, this.#hotDone]);
    for (const w of this.#workers.values()) w.abort();
    await Promise.allSettled(
      [...this.#workers.values()].flatMap((w) => (w.running !== undefined ? [w.running] : [])),
    );
    await this.probes.drain();
  }

  idle(): Promise<void> {
    if (![...this.#workers.values()].some((w) => w.busy)) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  workers(): ReadonlyMap<string, { readonly lifecycle: string; readonly orphan: boolean }> {
    return new Map([...this.#workers].map(([uid, w]) => [uid, { lifecycle: w.lifecycle, orphan: w.orphan }]));
  }

  // ---- PodWorkerHost ------------------------------------------------------------------------

  turnDone(w: PodWorker): void {
    if (
      w.lifecycle === 'terminated' &&
      w.cleaned &&
      w.apiGone &&
      !w.hasPending &&
      this.#workers.get(w.uid) === w
    ) {
      this.#workers.delete(w.uid);
      this.#specKeys.delete(w.uid);
      if (!w.orphan) this.#tombstone(w.uid);
    }
  }

  observed(
    w: PodWorker,
    containers: readonly { readonly state: string; readonly startedAt?: number }[],
  ): void {
    if (this.#closed || this.#hotWindowMs <= 0) return;
    let until = 0;
    for (const c of containers) {
      if (c.state === 'RUNNING' && c.startedAt !== undefined)
        until = Math.max(until, c.startedAt + this.#hotWindowMs);
    }
    if (until <= this.clock.now()) return;
    this.#hot.set(w.uid, Math.max(until, this.#hot.get(w.uid) ?? 0));
    this.#arm();
  }

  workerIdle(): void {
    if (this.#idleWaiters.length === 0 || [...this.#workers.values()].some((x) => x.busy)) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  // ---- internals ------------------------------------------------------------------------------

  #update(obj: StoredObject, fromSync: boolean): string | undefined {
    const pod = parsePod(obj);
    if (pod === undefined) {
      this.logger.warn({ pod: obj.metadata.name }, 'ignoring a pod without uid or name');
      return undefined;
    }
    if (this.#tombstones.has(pod.uid)) return pod.uid;
    const key = canonicalJson({
      spec: obj.spec,
      d: pod.deletionTimestamp,
      g: pod.deletionGracePeriodSeconds,
      a: pod.annotations,
      l: pod.labels,
    });
    let w = this.#workers.get(pod.uid);
    let op: PodOperation = 'update';
    if (w?.orphan === true) {
      // Its leftovers are being removed; one worker per uid at a time. The next update or full
      // sync after that starts it afresh.
      this.logger.warn({ podUid: pod.uid }, 'pod listed while its orphaned containers are being removed');
      return pod.uid;
    }
    if (w === undefined) {
      w = new PodWorker(this, pod.uid, pod);
      this.#workers.set(pod.uid, w);
      op = 'create';
    } else {
      const unchanged = this.#specKeys.get(pod.uid) === key;
      w.pod = pod;
      if (fromSync) w.forceReport();
      if (unchanged && !fromSync) return pod.uid;
    }
    this.#specKeys.set(pod.uid, key);
    w.interruptIfStale();
    w.kick(op);
    return pod.uid;
  }

  #tombstone(uid: string): void {
    this.#tombstones.add(uid);
    if (this.#tombstones.size > maxTombstones) {
      const oldest = this.#tombstones.values().next();
      if (oldest.done !== true) this.#tombstones.delete(oldest.value);
    }
  }

  #event: PodEventFn = (pod, type, reason, message, container) => {
    this.reporter.event({
      namespace: pod.namespace,
      podName: pod.name,
      podUid: pod.uid,
      ...(container !== undefined
        ? {
            fieldPath: `spec.${container.type === 'init' ? 'initContainers' : 'containers'}{${container.name}}`,
          }
        : {}),
      type,
      reason,
      message,
    });
  };

  async #tick(): Promise<void> {
    if (this.#ticking || this.#closed) return;
    this.#ticking = true;
    try {
      await this.#relist();
      if (this.#isClosed()) return;
      const now = this.clock.now();
      this.probes.tick(now);
      const resync = now - this.#lastResync >= this.#resyncMs;
      if (resync) this.#lastResync = now;
      for (const w of this.#workers.values()) {
        if (w.mem.wakeAt <= now) {
          w.mem.wakeAt = Infinity;
          w.kick('sync');
        } else if (resync && w.lifecycle === 'syncing') {
          w.kick('sync');
        }
      }
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'relist failed');
    } finally {
      this.#ticking = false;
    }
  }

  async #relist(): Promise<void> {
    const t0 = this.clock.now();
    const selector = { labelSelector: { [runtimeLabels.node]: this.#nodeName } };
    const [containers, sandboxes] = await Promise.all([
      this.#runtime.listContainers(selector),
      this.#runtime.listPodSandboxes(selector),
    ]);
    if (this.#isClosed()) return;
    const byPod = new Map<string, { containers: Container[]; sandboxes: PodSandbox[] }>();
    const of = (uid: string): { containers: Container[]; sandboxes: PodSandbox[] } => {
      let e = byPod.get(uid);
      if (e === undefined) byPod.set(uid, (e = { containers: [], sandboxes: [] }));
      return e;
    };
    const byState = new Map<string, number>([
      ['created', 0],
      ['running', 0],
      ['exited', 0],
      ['unknown', 0],
    ]);
    for (const c of containers) {
      const uid = c.labels[runtimeLabels.podUid];
      if (uid !== undefined) of(uid).containers.push(c);
      const k = c.state.toLowerCase();
      byState.set(k, (byState.get(k) ?? 0) + 1);
    }
    let running = 0;
    for (const s of sandboxes) {
      const uid = s.labels[runtimeLabels.podUid];
      if (uid !== undefined) of(uid).sandboxes.push(s);
      if (s.state === 'READY') running++;
    }
    this.#runningPods = running;
    this.#containersByState = byState;

    const next = new Map<string, string>();
    for (const [uid, e] of byPod) next.set(uid, fingerprint(e.containers, e.sandboxes));
    for (const [uid, fp] of next) {
      const w = this.#workers.get(uid);
      if (w === undefined) {
        if (this.#sourcesReady) this.#adoptOrphan(uid);
        continue;
      }
      if (this.#fingerprints.get(uid) !== fp) w.kick('sync');
    }
    for (const uid of this.#fingerprints.keys()) {
      if (!next.has(uid)) this.#workers.get(uid)?.kick('sync');
    }
    this.#fingerprints = next;
    this.metrics.plegRelistDuration.observe((this.clock.now() - t0) / 1000);
  }

  /** (Re)arms the one timer for the next full tick, or the next hot tick when that comes first. */
  #arm(): void {
    if (this.#closed) return;
    const now = this.clock.now();
    const at = Math.min(this.#nextFullAt, this.#hot.size > 0 ? now + this.#hotRelistMs : Infinity);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.clock.setTimer(at - now, () => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#fire();
      this.#arm();
    });
  }

  #fire(): void {
    const now = this.clock.now();
    if (now >= this.#nextFullAt) {
      // A steady cadence, as a repeating timer would keep; after a stall, start over from now.
      this.#nextFullAt += this.#relistMs;
      if (this.#nextFullAt <= now) this.#nextFullAt = now + this.#relistMs;
      this.#tickDone = this.#tick();
    } else if (!this.#hotTicking) {
      this.#hotTicking = true;
      this.#hotDone = this.#hotTick().finally(() => {
        this.#hotTicking = false;
      });
    }
  }

  /**
   * Relists the hot pods; one whose containers or sandboxes changed gets a turn. A few are listed
   * one by one (the runtime reads only their containers); more at once cost one node-wide listing
   * (one call each, not one per pod, for runtimes behind RPC).
   */
  async #hotTick(): Promise<void> {
    const now = this.clock.now();
    const uids: string[] = [];
    for (const [uid, until] of this.#hot) {
      const w = this.#workers.get(uid);
      if (until <= now || w === undefined || w.lifecycle !== 'syncing') this.#hot.delete(uid);
      // A pod with a turn in flight reads the runtime itself when done; a queued turn is coming.
      else if (!w.busy) uids.push(uid);
    }
    if (uids.length === 0) return;
    const node = { [runtimeLabels.node]: this.#nodeName };
    type Listing = readonly [uid: string, containers: readonly Container[], sandboxes: readonly PodSandbox[]];
    const list = async (uid: string | undefined): Promise<Listing> => {
      const labelSelector = { ...node, ...(uid === undefined ? {} : { [runtimeLabels.podUid]: uid }) };
      const [containers, sandboxes] = await Promise.all([
        this.#runtime.listContainers({ labelSelector }),
        this.#runtime.listPodSandboxes({ labelSelector }),
      ]);
      return [uid ?? '', containers, sandboxes];
    };
    try {
      let lists: readonly Listing[];
      if (uids.length <= hotPerPodLimit) {
        lists = await Promise.all(uids.map((uid) => list(uid)));
      } else {
        const [, containers, sandboxes] = await list(undefined);
        const of = (x: Container | PodSandbox): string | undefined => x.labels[runtimeLabels.podUid];
        lists = uids.map((uid) => [
          uid,
          containers.filter((c) => of(c) === uid),
          sandboxes.filter((sb) => of(sb) === uid),
        ]);
      }
      if (this.#isClosed()) return;
      for (const [uid, containers, sandboxes] of lists) {
        const fp = fingerprint(containers, sandboxes);
        if (this.#fingerprints.get(uid) === fp) continue;
        this.#fingerprints.set(uid, fp);
        this.#workers.get(uid)?.kick('sync');
      }
    } catch (err) {
      this.logger.debug({ err: errorMessage(err) }, 'hot relist failed');
    }
  }

  // A method, so that checks after awaits are not narrowed by the checks before them.
  #isClosed(): boolean {
    return this.#closed;
  }

  #adoptOrphan(uid: string): void {
    this.logger.info({ podUid: uid }, 'stopping a pod the controller no longer lists');
    const w = new PodWorker(this, uid, undefined);
    this.#workers.set(uid, w);
    w.kick('kill');
  }
}

/** What a relist compares per pod: its containers' and sandboxes' ids and states, in a fixed order. */
function fingerprint(
  containers: readonly Pick<Container, 'id' | 'state'>[],
  sandboxes: readonly Pick<PodSandbox, 'id' | 'state'>[],
): string {
  const parts = [...containers, ...sandboxes].map((x) => `${x.id}:${x.state}`);
  return parts.sort().join(',');
}
