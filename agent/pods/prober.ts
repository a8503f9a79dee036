/**
 * Probes (liveness, readiness, startup) and the handlers they run (exec, httpGet, tcpSocket), the
 * kubelet's prober manager with one difference for scale: no timer per container × probe. The pod
 * manager's single tick calls `ProbeManager.tick(now)`, which starts every probe that is due (its
 * period counted from the container's start plus `initialDelaySeconds`); results land in a cache the
 * pod workers read, and a result that flips wakes the pod's worker.
 *
 * Per probe (k8s semantics): `failureThreshold` consecutive failures flip to failure,
 * `successThreshold` consecutive successes flip to success. Initial results: liveness success,
 * readiness failure, startup not-yet. Until the startup probe succeeds, liveness and readiness do not
 * run and the container is not `started`. Startup/liveness failure → the worker kills the container.
 *
 * Handlers run through the `Prober` seam: exec via `Runtime.execSync`, HTTP and TCP via an injected
 * `ProbeTransport` (`net-probe-transport.ts` is the real one; hollow agents pass an always-healthy one).
 */
import type { Runtime } from '../runtime/runtime.js';
import type { ContainerSpec, HandlerSpec, ProbeSpec } from './pod-spec.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';

export interface ProbeOutcome {
  readonly success: boolean;
  /** Output or error, for the `Unhealthy` event. */
  readonly message: string;
}

export interface HttpProbeRequest {
  readonly scheme: 'HTTP' | 'HTTPS';
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly timeoutMs: number;
}

/** Network I/O for probes and hooks, injected so unit tests and hollow agents need no sockets. */
export interface ProbeTransport {
  /** Resolves with the status code, or an error message (refused, timeout…). */
  httpGet(req: HttpProbeRequest): Promise<{ readonly statusCode: number } | { readonly error: string }>;
  /** Resolves ok when a TCP connection opened within the timeout. */
  tcpConnect(req: {
    readonly host: string;
    readonly port: number;
    readonly timeoutMs: number;
  }): Promise<{ readonly ok: true } | { readonly ok: false; readonly error: string }>;
}

/** A transport where every endpoint is healthy: for hollow agents, whose pods have no real IPs. */
export const alwaysHealthyTransport: ProbeTransport = {
  httpGet: () => Promise.resolve({ statusCode: 200 }),
  tcpConnect: () => Promise.resolve({ ok: true }),
};

/** Where a handler runs. */
export interface ProbeTarget {
  readonly containerId: string;
  readonly container: ContainerSpec;
  /** The pod's IP (handlers with no `host` connect here). */
  readonly podIP: string | undefined;
}

/** Runs one handler once. */
export interface Prober {
  run(target: ProbeTarget, handler: HandlerSpec, timeoutSeconds: number): Promise<ProbeOutcome>;
}

/** The default prober: exec through the runtime, network handlers through the transport. */
export function createProber(runtime: Runtime, transport: ProbeTransport): Prober {
  return {
    async run(target, handler, timeoutSeconds) {
      const timeoutMs = Math.max(1, timeoutSeconds) * 1000;
      switch (handler.kind) {
        case 'exec': {
          const r = await runtime.execSync(target.containerId, {
            cmd: handler.command,
            timeoutSeconds: Math.max(1, timeoutSeconds),
          });
          if (!r.ok) return { success: false, message: r.message };
          if (r.timedOut === true)
            return { success: false, message: `command timed out after ${timeoutSeconds}s` };
          const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
          return {
            success: r.exitCode === 0,
            message: r.exitCode === 0 ? out : `${out}exit code ${r.exitCode}`.trim(),
          };
        }
        case 'httpGet': {
          const host = handler.host ?? target.podIP;
          const port = resolvePort(handler.port, target.container);
          if (host === undefined || port === undefined)
            return { success: false, message: 'no address to probe' };
          const r = await transport.httpGet({
            scheme: handler.scheme,
            host,
            port,
            path: handler.path,
            headers: handler.headers,
            timeoutMs,
          });
          if ('error' in r)
            return {
              success: false,
              message: `Get "${urlOf(handler.scheme, host, port, handler.path)}": ${r.error}`,
            };
          const ok = r.statusCode >= 200 && r.statusCode < 400;
          return { success: ok, message: ok ? '' : `HTTP probe failed with statuscode: ${r.statusCode}` };
        }
        case 'tcpSocket': {
          const host = handler.host ?? target.podIP;
          const port = resolvePort(handler.port, target.container);
          if (host === undefined || port === undefined)
            return { success: false, message: 'no address to probe' };
          const r = await transport.tcpConnect({ host, port, timeoutMs });
          return r.ok
            ? { success: true, message: '' }
            : { success: false, message: `dial tcp ${host}:${port}: ${r.error}` };
        }
        case 'grpc':
          return { success: false, message: 'grpc probes are not supported yet' };
        case 'sleep':
          return { success: true, message: '' };
      }
    },
  };
}

function urlOf(scheme: string, host: string, port: number, path: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `${scheme.toLowerCase()}://${h}:${port}${path.startsWith('/') ? path : `/${path}`}`;
}

/** A numeric port, or a named container port. */
export function resolvePort(port: number | string, c: ContainerSpec): number | undefined {
  if (typeof port === 'number') return port > 0 ? port : undefined;
  return c.ports.find((p) => p.name === port)?.containerPort;
}

interface Entry {
  readonly podUid: string;
  readonly containerId: string;
  readonly container: ContainerSpec;
  readonly kind: ProbeKind;
  readonly spec: ProbeSpec;
  nextAt: number;
  successes: number;
  failures: number;
  /** Current result: undefined until the first flip for startup. */
  result: boolean | undefined;
  running: boolean;
  podIP: string | undefined;
}

export interface ProbeResultEvent {
  readonly podUid: string;
  readonly containerId: string;
  readonly container: ContainerSpec;
  readonly kind: ProbeKind;
  readonly outcome: ProbeOutcome;
  /** The cached result flipped with this outcome. */
  readonly changed: boolean;
}

/** The probe results cache and scheduler for every container of one pod manager. */
export class ProbeManager {
  readonly #prober: Prober;
  readonly #onResult: (e: ProbeResultEvent) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #byContainer = new Map<string, Entry[]>();
  readonly #inflight = new Set<Promise<void>>();

  constructor(prober: Prober, onResult: (e: ProbeResultEvent) => void) {
    this.#prober = prober;
    this.#onResult = onResult;
  }

  /** Registers the probes of a running container (no-op if known). */
  ensure(
    podUid: string,
    containerId: string,
    container: ContainerSpec,
    startedAt: number,
    podIP: string | undefined,
  ): void {
    const known = this.#byContainer.get(containerId);
    if (known !== undefined) {
      for (const e of known) e.podIP = podIP;
      return;
    }
    const list: Entry[] = [];
    const add = (kind: ProbeKind, spec: ProbeSpec | undefined, initial: boolean | undefined): void => {
      if (spec === undefined) return;
      const e: Entry = {
        podUid,
        containerId,
        container,
        kind,
        spec,
        nextAt: startedAt + spec.initialDelaySeconds * 1000,
        successes: 0,
        failures: 0,
        result: initial,
        running: false,
        podIP,
      };
      this.#entries.set(`${containerId}/${kind}`, e);
      list.push(e);
    };
    add('startup', container.startupProbe, undefined);
    add('liveness', container.livenessProbe, true);
    add('readiness', container.readinessProbe, false);
    this.#byContainer.set(containerId, list);
  }

  /** Forgets the probes of a pod's containers that are not in `keep`. */
  retain(podUid: string, keep: ReadonlySet<string>): void {
    for (const [id, list] of this.#byContainer) {
      if (list[0]?.podUid !== podUid || keep.has(id)) continue;
      this.#forget(id, list);
    }
  }

  forgetPod(podUid: string): void {
    this.retain(podUid, new Set());
  }

  /** Readiness and startup as the status shows them (no probe ⇒ true). */
  view(containerId: string): { ready: boolean; started: boolean } {
    const started =
      this.#entries.get(`${containerId}/startup`)?.result ?? !this.#entries.has(`${containerId}/startup`);
    const readiness = this.#entries.get(`${containerId}/readiness`);
    return { started, ready: started && (readiness === undefined || readiness.result === true) };
  }

  /** The probe whose failure means "kill this container", if one failed. */
  failed(containerId: string): { kind: 'liveness' | 'startup'; spec: ProbeSpec } | undefined {
    for (const kind of ['startup', 'liveness'] as const) {
      const e = this.#entries.get(`${containerId}/${kind}`);
      if (e?.result === false) return { kind, spec: e.spec };
    }
    return undefined;
  }

  /** Starts every probe due at `now`. */
  tick(now: number): void {
    for (const e of this.#entries.values()) {
      if (e.running || now < e.nextAt) continue;
      const startup = this.#entries.get(`${e.containerId}/startup`);
      if (e.kind !== 'startup' && startup !== undefined && startup.result !== true) continue;
      if (e.kind === 'startup' && e.result === true) continue;
      // A failed liveness/startup result stays until the container is gone (it is being killed).
      if (e.kind !== 'readiness' && e.result === false) continue;
      e.running = true;
      e.nextAt = now + e.spec.periodSeconds * 1000;
      const p = this.#run(e).finally(() => {
        e.running = false;
        this.#inflight.delete(p);
      });
      this.#inflight.add(p);
    }
  }

  /** Waits for the probes in flight (for shutdown and tests). */
  async drain(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  get size(): number {
    return this.#entries.size;
  }

  async #run(e: Entry): Promise<void> {
    let outcome: ProbeOutcome;
    try {
      outcome = await this.#prober.run(
        { containerId: e.containerId, container: e.container, podIP: e.podIP },
        e.spec.handler,
        e.spec.timeoutSeconds,
      );
    } catch (err) {
      outcome = { success: false, message: err instanceof Error ? err.message : String(err) };
    }
    if (this.#entries.get(`${e.containerId}/${e.kind}`) !== e) return; // forgotten meanwhile
    const before = e.result;
    if (outcome.success) {
      e.failures = 0;
      e.successes++;
      if (e.successes >= (e.kind === 'readiness' ? e.spec.successThreshold : 1)) e.result = true;
    } else {
      e.successes = 0;
      e.failures++;
      if (e.failures >= e.spec.failureThreshold) e.result = false;
    }
    this.#onResult({
      podUid: e.podUid,
      containerId: e.containerId,
      container: e.container,
      kind: e.kind,
      outcome,
      changed: before !== e.result,
    });
  }

  #forget(id: string, list: readonly Entry[]): void {
    for (const e of list) this.#entries.delete(`${id}/${e.kind}`);
    this.#byContainer.delete(id);
  }
}
