/**
 * B7 — API and watch fan-out (shared/reference/performance-anchors.md).
 *
 * Each round, for each variant, on a fresh server:
 * 1. register one Ready Node per simulated agent (so the pod GC and node-lifecycle controllers leave
 *    the pods alone), then prefill `--pods` pods (default 10,000) in one namespace, bound round-robin
 *    to the nodes;
 * 2. open the watchers: one per node — a simulated agent watching `fieldSelector=spec.nodeName=<node>`
 *    with bookmarks, as kubelets do — plus `--all-watchers` unfiltered ones (scheduler- and
 *    controller-like); with `--fanout all` every watcher is unfiltered and sees every event;
 * 3. time `--lists` LISTs of the namespace's pods (consistent, then resourceVersion=0): time to last byte;
 * 4. drive `--rate` pod writes/s (20 % creates, 80 % annotation patches) open-loop for `--duration`
 *    seconds. Each write carries its send time in an annotation; every watcher that receives the
 *    event records receive − send, an upper bound of commit → receive (it includes the write's own
 *    path to the commit, and its queueing when the write path saturates), and receive − the write's
 *    acknowledgement ("from ack", 0 when the event beats the ack), a lower bound that isolates the
 *    watch path. Halfway, one extra unfiltered watcher connects and never reads: the second half's
 *    delivery latency (from ack) shows whether it slows anyone, and at the end the benchmark checks
 *    that the server cut it off. The server's event-loop delay (p99/max) during the phase is read
 *    from its /metrics, to tell a slow server from one the OS did not schedule.
 *
 * Variants: `berth` (SQLite store, watch cache), the baseline `etcd` — a real etcd 3.4 started in this
 * run, written with plain puts and watched through the etcd3 client, one prefix watch per node
 * (`/…/pods/<node>/`) multiplexed on one gRPC stream, which is how etcd itself would serve this
 * workload; LIST is one range read of the prefix — and optionally `berth-nocache` (the store-backed
 * watch path, no cache) and `berth-etcd` (berth on `--store etcd`). Medians over rounds are printed.
 *
 *   npm run bench -- api [--watchers 1000] [--all-watchers 2] [--pods 10000] [--rate 500]
 *     [--duration 60] [--rounds 3] [--lists 5] [--fanout node|all] [--variants berth,etcd]
 *     [--cpu-prof DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Etcd3, type Watcher } from 'etcd3';
import { etcdAvailable, startEtcd, type EtcdHandle } from '../test/harness/etcd.js';
import { freePort } from '../test/harness/ports.js';
import type { ApiServerChildInfo, ApiServerChildOptions } from './lib/api-server-child.js';
import { apiAgent, callOk, stream, type ApiEndpoint, type Stream } from './lib/https-client.js';
import { runOpenLoop } from './lib/open-loop.js';
import { procStats } from './lib/proc-stats.js';
import { median, percentile, printTable, runConcurrent } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    watchers: { type: 'string', default: '1000' },
    'all-watchers': { type: 'string', default: '2' },
    pods: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '500' },
    duration: { type: 'string', default: '60' },
    rounds: { type: 'string', default: '3' },
    lists: { type: 'string', default: '5' },
    fanout: { type: 'string', default: 'node' },
    variants: { type: 'string', default: 'berth,etcd' },
    'cpu-prof': { type: 'string' },
  },
});
const WATCHERS = Number(args.watchers);
const FANOUT = args.fanout === 'all' ? 'all' : 'node';
const ALL_WATCHERS = FANOUT === 'all' ? WATCHERS : Number(args['all-watchers']);
const NODE_WATCHERS = FANOUT === 'all' ? 0 : WATCHERS;
const PODS = Number(args.pods);
const RATE = Number(args.rate);
const DURATION_MS = Number(args.duration) * 1000;
const ROUNDS = Number(args.rounds);
const LISTS = Number(args.lists);
const VARIANTS = args.variants.split(',').map((v) => v.trim());
const CREATE_SHARE = 0.2;
const NAMESPACE = 'default';
const SENT = 'bench.berth.dev/sent-at';
const sentAtRe = /"bench\.berth\.dev\/sent-at":"([0-9.]+)"/;
const root = new URL('..', import.meta.url).pathname;

interface Pod {
  readonly name: string;
  readonly node: string;
}

/** What a benchmark target must do; one instance per variant per round. */
interface Target {
  readonly pid: number;
  /** Registers the simulated agents' nodes (Ready), so controllers leave their pods alone. */
  registerNodes(nodes: readonly string[]): Promise<void>;
  createPod(pod: Pod, sentAt?: number): Promise<void>;
  updatePod(pod: Pod, sentAt: number): Promise<void>;
  /** Opens every watcher; `onEvent` gets each received object event's send-time annotation, if any. */
  openWatchers(
    nodes: readonly string[],
    unfiltered: number,
    onEvent: (sentAt: string | undefined) => void,
  ): Promise<void>;
  /** Connects a watcher that never reads; the returned check tells whether the server cut it off. */
  openStalled(): Promise<(() => Promise<boolean>) | undefined>;
  /**
   * The server's event-loop delay since the previous call (p99 and max, ms), from its Prometheus
   * metrics; undefined for a server that is not Node.
   */
  loopLag(): Promise<{ p99: number; max: number } | undefined>;
  /** One LIST of every pod; resolves to the body size. */
  list(mode: 'consistent' | 'rv0'): Promise<{ bytes: number; items: number }>;
  close(): Promise<void>;
}

const nodeName = (i: number): string => `node-${String(i).padStart(4, '0')}`;

function podManifest(pod: Pod, sentAt?: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      labels: { app: 'bench', node: pod.node },
      ...(sentAt === undefined ? {} : { annotations: { [SENT]: sentAt.toFixed(3) } }),
    },
    spec: {
      nodeName: pod.node,
      containers: [
        {
          name: 'app',
          image: 'busybox:1.36',
          command: ['sleep', '3600'],
          resources: { requests: { cpu: '1m', memory: '10M' } },
        },
      ],
    },
  });
}

/** A pod as berth stores it (captured from the first create), so etcd values have the same size. */
let storedPodTemplate: Record<string, unknown> | undefined;

// ── berth ───────────────────────────────────────────────────────────────────────────────────────

async function startBerthChild(
  opts: ApiServerChildOptions,
): Promise<{ child: ChildProcess; info: ApiServerChildInfo }> {
  const profile = args['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`];
  const child = spawn(
    process.execPath,
    [...profile, '--import', 'tsx', join(root, 'bench/lib/api-server-child.ts'), JSON.stringify(opts)],
    { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  const info = await new Promise<ApiServerChildInfo>((resolve, reject) => {
    lines.once('line', (line) => {
      resolve(JSON.parse(line) as ApiServerChildInfo);
    });
    child.once('exit', (code) => {
      reject(new Error(`bench server exited with ${String(code)} before serving`));
    });
  });
  return { child, info };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function berthTarget(variant: string, etcd: EtcdHandle | undefined): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-bench-api-'));
  const onEtcd = variant === 'berth-etcd';
  if (onEtcd && etcd === undefined) throw new Error('berth-etcd needs etcd');
  const { child, info } = await startBerthChild({
    dataDir,
    port: await freePort(),
    store: onEtcd ? 'etcd' : 'sqlite',
    ...(onEtcd && etcd !== undefined
      ? { etcdEndpoints: [etcd.endpoint], etcdPrefix: `/berth-${Math.random().toString(36).slice(2)}` }
      : {}),
    watchCache: variant === 'berth-nocache' ? false : {},
    nodeMonitorGracePeriodMs: 3_600_000,
  });
  const ep: ApiEndpoint = { url: info.url, token: info.token, caPem: info.caPem };
  const writes = apiAgent(ep, 64);
  const watches = apiAgent(ep, Infinity);
  const reads = apiAgent(ep, 1);
  const streams: Stream[] = [];
  const podsPath = `/api/v1/namespaces/${NAMESPACE}/pods`;
  const currentRv = async (): Promise<string> => {
    const body = await callOk(ep, reads, 'GET', `${podsPath}?limit=1`);
    return (JSON.parse(body.toString('utf8')) as { metadata: { resourceVersion: string } }).metadata
      .resourceVersion;
  };
  const watchLine = (onEvent: (sentAt: string | undefined) => void) => (line: string) => {
    // Only the writes' own events: not bookmarks, nor a DELETED carrying an old annotation.
    if (!line.startsWith('{"type":"ADDED"') && !line.startsWith('{"type":"MODIFIED"')) return;
    onEvent(sentAtRe.exec(line)?.[1]);
  };
  return {
    pid: info.pid,
    registerNodes: async (nodes) => {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      await runConcurrent(32, nodes.length, async (_w, i) => {
        const node = {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: nodes[i] },
          status: {
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
            capacity: { cpu: '64', memory: '256Gi', pods: '110' },
            allocatable: { cpu: '64', memory: '256Gi', pods: '110' },
          },
        };
        await callOk(ep, writes, 'POST', '/api/v1/nodes', JSON.stringify(node), {}, 201);
      });
    },
    createPod: async (pod, sentAt) => {
      const body = await callOk(ep, writes, 'POST', podsPath, podManifest(pod, sentAt), {}, 201);
      storedPodTemplate ??= JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    },
    updatePod: async (pod, sentAt) => {
      await callOk(
        ep,
        writes,
        'PATCH',
        `${podsPath}/${pod.name}`,
        JSON.stringify({ metadata: { annotations: { [SENT]: sentAt.toFixed(3) } } }),
        { 'content-type': 'application/merge-patch+json' },
      );
    },
    openWatchers: async (nodes, unfiltered, onEvent) => {
      const rv = await currentRv();
      const paths = [
        ...nodes.map(
          (node) =>
            `${podsPath}?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}&fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`,
        ),
        ...Array.from(
          { length: unfiltered },
          () => `${podsPath}?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`,
        ),
      ];
      // Connect in waves: a thousand simultaneous TLS handshakes would measure the handshake storm.
      await runConcurrent(32, paths.length, async (_w, i) => {
        streams.push(await stream(ep, watches, paths[i] as string, watchLine(onEvent)));
      });
    },
    openStalled: async () => {
      let ended = false;
      const s = await stream(
        ep,
        watches,
        `${podsPath}?watch=true&resourceVersion=${await currentRv()}`,
        () => undefined,
        () => {
          ended = true;
        },
      );
      s.response.pause();
      streams.push(s);
      return async () => {
        // Read what is buffered: a stream the server ended (or cut) finishes; a live one never does.
        s.response.resume();
        const deadline = performance.now() + 8000;
        while (!ended && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        s.close();
        return ended;
      };
    },
    loopLag: async () => {
      const text = (await callOk(ep, reads, 'GET', '/metrics')).toString('utf8');
      const metric = (name: string): number =>
        Number(new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text)?.[1] ?? 'NaN') * 1000;
      return {
        p99: metric('nodejs_eventloop_lag_p99_seconds'),
        max: metric('nodejs_eventloop_lag_max_seconds'),
      };
    },
    list: async (mode) => {
      const path = mode === 'rv0' ? `${podsPath}?resourceVersion=0` : podsPath;
      const body = await callOk(ep, reads, 'GET', path);
      return { bytes: body.length, items: countItems(body) };
    },
    close: async () => {
      for (const s of streams) s.close();
      writes.destroy();
      watches.destroy();
      reads.destroy();
      await stopChild(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Items in a JSON list body, counted without parsing it. */
function countItems(body: Buffer): number {
  const text = body.toString('utf8');
  let n = 0;
  for (let i = text.indexOf('"kind":"Pod"'); i >= 0; i = text.indexOf('"kind":"Pod"', i + 1)) n++;
  return n;
}

// ── etcd (baseline) ─────────────────────────────────────────────────────────────────────────────

function etcdTarget(etcd: EtcdHandle): Target {
  const client = new Etcd3({
    hosts: etcd.endpoint,
    grpcOptions: { 'grpc.max_receive_message_length': -1 },
  });
  const base = `/bench-${Math.random().toString(36).slice(2)}/pods/`;
  const watchers: Watcher[] = [];
  const keyOf = (pod: Pod): string => `${base}${pod.node}/${pod.name}`;
  const valueOf = (pod: Pod, sentAt?: number): string => {
    const t = storedPodTemplate;
    if (t === undefined) return podManifest(pod, sentAt);
    const meta = (t['metadata'] ?? {}) as Record<string, unknown>;
    return JSON.stringify({
      ...t,
      metadata: {
        ...meta,
        name: pod.name,
        ...(sentAt === undefined ? {} : { annotations: { [SENT]: sentAt.toFixed(3) } }),
      },
      spec: { ...(t['spec'] ?? {}), nodeName: pod.node },
    });
  };
  const onPut = (onEvent: (sentAt: string | undefined) => void) => (kv: { value: Buffer }) => {
    onEvent(sentAtRe.exec(kv.value.toString('utf8'))?.[1]);
  };
  return {
    pid: etcd.pid,
    registerNodes: () => Promise.resolve(),
    createPod: async (pod, sentAt) => {
      await client.put(keyOf(pod)).value(valueOf(pod, sentAt));
    },
    updatePod: async (pod, sentAt) => {
      await client.put(keyOf(pod)).value(valueOf(pod, sentAt));
    },
    openWatchers: async (nodes, unfiltered, onEvent) => {
      const prefixes = [
        ...nodes.map((n) => `${base}${n}/`),
        ...Array.from({ length: unfiltered }, () => base),
      ];
      await runConcurrent(32, prefixes.length, async (_w, i) => {
        const watcher = await client
          .watch()
          .prefix(prefixes[i] as string)
          .create();
        watcher.on('put', onPut(onEvent));
        watchers.push(watcher);
      });
    },
    openStalled: () => Promise.resolve(undefined),
    loopLag: () => Promise.resolve(undefined),
    list: async () => {
      const all = await client.getAll().prefix(base).buffers();
      let bytes = 0;
      let items = 0;
      for (const v of Object.values(all)) {
        bytes += v.length;
        items++;
      }
      return { bytes, items };
    },
    close: async () => {
      await Promise.all(watchers.map((w) => w.cancel()));
      await client.delete().prefix(base);
      client.close();
    },
  };
}

// ── one round of one variant ────────────────────────────────────────────────────────────────────

interface RoundResult {
  readonly writesPerSec: number;
  readonly writeP50: number;
  readonly writeP99: number;
  readonly writeFailed: number;
  readonly deliveryP50: number;
  readonly deliveryP99: number;
  /** p99 of receive − acknowledgement: the lower bound of commit → receive. */
  readonly deliveryAfterAckP99: number;
  readonly deliveryStalledP99: number;
  readonly deliveryStalledAfterAckP99: number;
  readonly lost: number;
  readonly stalledCut: boolean | undefined;
  readonly listMs: number;
  readonly listRv0Ms: number;
  readonly listItems: number;
  readonly listMb: number;
  readonly cpuSeconds: number;
  readonly rssMb: number;
  /** CPU seconds this benchmark process (the clients) used during the write phase. */
  readonly clientCpuSeconds: number;
  /** The server's event-loop delay during the write phase (Node servers only). */
  readonly loopLagP99: number;
  readonly loopLagMax: number;
}

async function runVariant(variant: string, etcd: EtcdHandle | undefined): Promise<RoundResult> {
  const target = variant === 'etcd' ? etcdTarget(etcd as EtcdHandle) : await berthTarget(variant, etcd);
  try {
    const pods: Pod[] = Array.from({ length: PODS }, (_, i) => ({
      name: `p-${i}`,
      node: nodeName(i % Math.max(1, WATCHERS)),
    }));
    await target.registerNodes(Array.from({ length: Math.max(1, WATCHERS) }, (_, i) => nodeName(i)));
    const prefill = await runConcurrent(32, PODS, (_w, i) => target.createPod(pods[i] as Pod));
    log(`  ${variant}: prefilled ${PODS} pods at ${prefill.perSecond.toFixed(0)}/s`);

    // Every delivery: which write (its send-time annotation) and when it arrived. The commit lies
    // between the write's send and its acknowledgement, so receive − send bounds commit → receive from
    // above and receive − ack (0 if the event beat the ack) from below.
    const deliveries: { sent: string; at: number }[] = [];
    const acks = new Map<string, number>();
    let received = 0;
    let recording = false;
    await target.openWatchers(
      Array.from({ length: NODE_WATCHERS }, (_, i) => nodeName(i)),
      ALL_WATCHERS,
      (sent) => {
        if (!recording || sent === undefined) return;
        received++;
        deliveries.push({ sent, at: performance.now() });
      },
    );
    log(`  ${variant}: ${NODE_WATCHERS + ALL_WATCHERS} watchers connected`);

    const timeLists = async (
      mode: 'consistent' | 'rv0',
    ): Promise<{ ms: number; items: number; bytes: number }> => {
      const ms: number[] = [];
      let last = { bytes: 0, items: 0 };
      await target.list(mode); // warm-up
      for (let i = 0; i < LISTS; i++) {
        const t0 = performance.now();
        last = await target.list(mode);
        ms.push(performance.now() - t0);
      }
      return { ms: median(ms), ...last };
    };
    const consistent = await timeLists('consistent');
    const rv0 = await timeLists('rv0');

    await target.loopLag(); // resets the server's event-loop delay histogram
    const before = procStats(target.pid);
    const clientBefore = process.cpuUsage();
    recording = true;
    let stallAt = Infinity;
    let stallCheck: Promise<(() => Promise<boolean>) | undefined> = Promise.resolve(undefined);
    const half = setTimeout(() => {
      stallAt = performance.now();
      stallCheck = target.openStalled();
    }, DURATION_MS / 2);
    let nextNew = 0;
    let expected = 0;
    const result = await runOpenLoop(RATE, DURATION_MS, async (i) => {
      const sentAt = performance.now();
      if (i % Math.round(1 / CREATE_SHARE) === 0 || pods.length === 0) {
        const pod: Pod = {
          name: `n-${nextNew++}`,
          node: nodeName(Math.floor(Math.random() * Math.max(1, WATCHERS))),
        };
        await target.createPod(pod, sentAt);
        pods.push(pod);
      } else {
        await target.updatePod(pods[Math.floor(Math.random() * pods.length)] as Pod, sentAt);
      }
      acks.set(sentAt.toFixed(3), performance.now());
      expected += (NODE_WATCHERS > 0 ? 1 : 0) + ALL_WATCHERS;
    });
    clearTimeout(half);
    // Let the last events arrive.
    for (let waited = 0; received < expected && waited < 5000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    recording = false;
    const after = procStats(target.pid);
    const client = process.cpuUsage(clientBefore);
    const lag = await target.loopLag();
    const check = await stallCheck;
    const stalledCut = check === undefined ? undefined : await check();
    if (result.failed > 0) {
      log(`  ${variant}: ${result.failed} writes failed, e.g. ${(result.errors[0] ?? '').slice(0, 160)}`);
    }
    const upper: [number[], number[]] = [[], []];
    const lower: [number[], number[]] = [[], []];
    for (const d of deliveries) {
      const sent = Number(d.sent);
      const half = sent >= stallAt ? 1 : 0;
      upper[half].push(d.at - sent);
      const ack = acks.get(d.sent);
      if (ack !== undefined) lower[half].push(Math.max(0, d.at - ack));
    }
    for (const list of [...upper, ...lower]) list.sort((a, b) => a - b);
    const r: RoundResult = {
      writesPerSec: (result.issued - result.failed) / result.seconds,
      writeP50: percentile(result.latenciesMs, 50),
      writeP99: percentile(result.latenciesMs, 99),
      writeFailed: result.failed,
      deliveryP50: percentile(upper[0], 50),
      deliveryP99: percentile(upper[0], 99),
      deliveryAfterAckP99: percentile(lower[0], 99),
      deliveryStalledP99: percentile(upper[1], 99),
      deliveryStalledAfterAckP99: percentile(lower[1], 99),
      lost: Math.max(0, expected - received),
      stalledCut,
      listMs: consistent.ms,
      listRv0Ms: rv0.ms,
      listItems: consistent.items,
      listMb: consistent.bytes / 1024 / 1024,
      cpuSeconds: before === undefined || after === undefined ? NaN : after.cpuSeconds - before.cpuSeconds,
      rssMb: after?.rssMb ?? NaN,
      clientCpuSeconds: (client.user + client.system) / 1e6,
      loopLagP99: lag?.p99 ?? NaN,
      loopLagMax: lag?.max ?? NaN,
    };
    log(
      `  ${variant}: write p99 ${r.writeP99.toFixed(1)} ms, delivery p99 ${r.deliveryP99.toFixed(1)} ms ` +
        `(stalled half ${r.deliveryStalledP99.toFixed(1)} ms), LIST ${r.listMs.toFixed(0)} ms`,
    );
    return r;
  } finally {
    await target.close();
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ── main ────────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const needsEtcd = VARIANTS.some((v) => v === 'etcd' || v === 'berth-etcd');
  const skip = needsEtcd ? etcdAvailable() : undefined;
  const variants = skip === undefined ? VARIANTS : VARIANTS.filter((v) => v !== 'etcd' && v !== 'berth-etcd');
  if (skip !== undefined) console.log(`etcd variants skipped: ${skip}`);
  // berth first: its stored pod is the template for the etcd values.
  variants.sort((a, b) => (a === 'berth' ? -1 : b === 'berth' ? 1 : 0));
  console.log(
    `B7 API and watch fan-out: ${NODE_WATCHERS} node watchers + ${ALL_WATCHERS} unfiltered, ${PODS} pods, ` +
      `${RATE} writes/s for ${DURATION_MS / 1000} s, ${ROUNDS} rounds, medians shown`,
  );
  const results = new Map<string, RoundResult[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    log(`round ${round + 1}/${ROUNDS}`);
    const etcd = needsEtcd && skip === undefined ? await startEtcd({ name: 'berth-bench-api' }) : undefined;
    try {
      for (const v of variants) results.get(v)?.push(await runVariant(v, etcd));
    } finally {
      await etcd?.stop();
    }
  }
  const m = (v: string, f: (r: RoundResult) => number): number => median((results.get(v) ?? []).map(f));
  const fmt = (x: number, digits = 1): string => (Number.isNaN(x) ? '-' : x.toFixed(digits));
  const rows = (cells: (v: string, rs: readonly RoundResult[]) => string[]): string[][] =>
    variants.map((v) => [v, ...cells(v, results.get(v) ?? [])]);
  printTable(
    [
      'variant',
      'writes/s',
      'write p50',
      'write p99',
      'deliv p50',
      'deliv p99',
      'p99 from ack',
      'stalled: p99',
      'from ack',
      'stalled cut',
      'lost',
    ],
    rows((v, rs) => {
      const cut = rs.map((r) => r.stalledCut);
      return [
        fmt(
          m(v, (r) => r.writesPerSec),
          0,
        ),
        fmt(m(v, (r) => r.writeP50)),
        fmt(m(v, (r) => r.writeP99)),
        fmt(m(v, (r) => r.deliveryP50)),
        fmt(m(v, (r) => r.deliveryP99)),
        fmt(m(v, (r) => r.deliveryAfterAckP99)),
        fmt(m(v, (r) => r.deliveryStalledP99)),
        fmt(m(v, (r) => r.deliveryStalledAfterAckP99)),
        cut.every((c) => c === undefined) ? 'n/a' : `${cut.filter((c) => c === true).length}/${cut.length}`,
        fmt(
          m(v, (r) => r.lost),
          0,
        ),
      ];
    }),
  );
  console.log('');
  printTable(
    [
      'variant',
      'LIST ms',
      'LIST rv=0 ms',
      'items',
      'MB',
      'server CPU s',
      'server RSS MB',
      'loop lag p99',
      'loop lag max',
      'client CPU s',
    ],
    rows((v) => [
      fmt(m(v, (r) => r.listMs)),
      fmt(m(v, (r) => r.listRv0Ms)),
      fmt(
        m(v, (r) => r.listItems),
        0,
      ),
      fmt(m(v, (r) => r.listMb)),
      fmt(m(v, (r) => r.cpuSeconds)),
      fmt(
        m(v, (r) => r.rssMb),
        0,
      ),
      fmt(m(v, (r) => r.loopLagP99)),
      fmt(m(v, (r) => r.loopLagMax)),
      fmt(m(v, (r) => r.clientCpuSeconds)),
    ]),
  );
  console.log(
    'ms; writes open-loop, latency from the scheduled start; delivery p50/p99 = receive − send (upper ' +
      'bound of commit → receive), "from ack" = receive − write acknowledged (lower bound); "stalled" = ' +
      'the half with a watcher that never reads; CPU during the write phase',
  );
  if (results.has('berth') && results.has('etcd')) {
    const ratio = (f: (r: RoundResult) => number): string => (m('berth', f) / m('etcd', f)).toFixed(2);
    console.log(
      `berth / etcd 3.4: write p99 ${ratio((r) => r.writeP99)}x, delivery p99 ${ratio((r) => r.deliveryP99)}x, ` +
        `LIST ${ratio((r) => r.listMs)}x, server CPU ${ratio((r) => r.cpuSeconds)}x`,
    );
  }
  if (results.has('berth')) {
    const ok = (pass: boolean): string => (pass ? 'met' : 'MISSED');
    // The stalled watcher's effect on the others is judged on the watch path alone (from the ack), so
    // that a saturated write path does not count against it.
    const normal = m('berth', (r) => r.deliveryAfterAckP99);
    const stalled = m('berth', (r) => r.deliveryStalledAfterAckP99);
    console.log(
      `targets (berth): mutating p99 <= 50 ms ${ok(m('berth', (r) => r.writeP99) <= 50)}; ` +
        `delivery p99 <= 100 ms ${ok(m('berth', (r) => r.deliveryP99) <= 100)} ` +
        `(from ack: ${ok(m('berth', (r) => r.deliveryAfterAckP99) <= 100)}); ` +
        `LIST of ${PODS} <= 500 ms ${ok(m('berth', (r) => r.listMs) <= 500)}; ` +
        `stalled watcher cut off ${ok((results.get('berth') ?? []).every((r) => r.stalledCut === true))} ` +
        `and harmless (others' p99 from ack ${fmt(normal)} -> ${fmt(stalled)} ms) ${ok(
          stalled <= Math.max(1.2 * normal, normal + 10),
        )}`,
    );
  }
}

await main();
