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
import type { Runtime } from '../runtime/runtime.js';
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
  readonly #timer: Timer;
  #sourcesReady = false;
  #closed = false;
  #ticking = false;
  #tickDone: Promise<void> = Promise.resolve();
  #lastResync: number;
  /** uid → fingerprint of its containers' and sandboxes' states at the last relist. */
  #fingerprints = new Map<string, string>();
  #runningPods = 0;
  #containersByState = new Map<string, number>();
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
    this.#timer = opts.clock.setTimer(
      opts.relistIntervalMs ?? 1000,
      () => {
        this.#tickDone = this.#tick();
      },
      { repeat: true },
    );
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
    this.#timer.cancel();
    await this.#tickDone;
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
    const parts = new Map<string, string[]>();
    const add = (uid: string | undefined, s: string): void => {
      if (uid === undefined) return;
      const list = parts.get(uid);
      if (list === undefined) parts.set(uid, [s]);
      else list.push(s);
    };
    const byState = new Map<string, number>([
      ['created', 0],
      ['running', 0],
      ['exited', 0],
      ['unknown', 0],
    ]);
    for (const c of containers) {
      add(c.labels[runtimeLabels.podUid], `${c.id}:${c.state}`);
      const k = c.state.toLowerCase();
      byState.set(k, (byState.get(k) ?? 0) + 1);
    }
    let running = 0;
    for (const s of sandboxes) {
      add(s.labels[runtimeLabels.podUid], `${s.id}:${s.state}`);
      if (s.state === 'READY') running++;
    }
    this.#runningPods = running;
    this.#containersByState = byState;

    const next = new Map<string, string>();
    for (const [uid, list] of parts) next.set(uid, list.join(','));
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
