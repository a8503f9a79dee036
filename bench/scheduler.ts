/**
 * B1 — scheduling throughput end to end (shared/reference/performance-anchors.md §1a).
 *
 * For each store (`--stores sqlite,etcd`; etcd is a real etcd 3.4 started by this run):
 * 1. a real `berth server` child process (`--store …`), and `berth hollow --count N` (default 1,000
 *    hollow agents: the real agent code on the fake runtime, each joined with the node token, one
 *    gRPC stream each) — every node Ready before anything is measured;
 * 2. a watch on the namespace's pods, then `--pods` pods (default 10,000) as Deployments of 100
 *    replicas (100 × 100), created through the API with 10 requests in flight; the Deployment and
 *    ReplicaSet controllers create the pods, the scheduler binds them, the agents report them Running;
 * 3. from the watch (events are sent only after the store has committed, so what is observed is
 *    durable): pods/s from the first pod created to the last one bound, and from the first Deployment
 *    POST to the last bind; p50/p99 of create→bound per pod; and create→Running (the agents' part);
 * 4. store writes per pod (revisions over the window — pod create, bind, status, events, and the
 *    nodes' heartbeats meanwhile); the controller's CPU-seconds over that window and its RSS (peak, sampled; and at the end) from
 *    /proc of the server process, and the hollow process's CPU-seconds.
 * A consistent LIST at the end checks that every pod is bound in the store.
 *
 * The baseline in the same run is the etcd-backed server next to the SQLite one. The published
 * anchors (not measured here, printed for scale): kube-scheduler's CI floor 680 pods/s
 * (SchedulingBasic 5,000 nodes / 10,000 pods, no kubelets), Nomad C1M ≈ 3,750 containers/s on five
 * servers. The goal on this 2-core machine is ≥ 2,000 pods/s.
 *
 *   npm run bench -- scheduler [--nodes 1000] [--pods 10000] [--stores sqlite,etcd] [--rounds 1]
 *     [--join-concurrency 32] [--cpu-prof DIR] [--keep]
 *
 * The hollow agents' identities (keys and certificates) are kept between the runs of one invocation
 * (the server's PKI is reused), so only the first run pays for joining; its join time is printed.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startHollow, type BerthProcess } from '../test/harness/agent.js';
import { startBerthServer, type BerthServerHandle } from '../test/harness/berth-server.js';
import { etcdAvailable, startEtcd, type EtcdHandle } from '../test/harness/etcd.js';
import { apiAgent, callOk, stream, type ApiEndpoint, type Stream } from './lib/https-client.js';
import { procStats } from './lib/proc-stats.js';
import { percentile, printTable } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    pods: { type: 'string', default: '10000' },
    replicas: { type: 'string', default: '100' },
    stores: { type: 'string', default: 'sqlite,etcd' },
    rounds: { type: 'string', default: '1' },
    'join-concurrency': { type: 'string', default: '32' },
    'cpu-prof': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const NODES = Number(args.nodes);
const PODS = Number(args.pods);
const REPLICAS = Math.min(Number(args.replicas), PODS);
const DEPLOYMENTS = Math.ceil(PODS / REPLICAS);
const ROUNDS = Number(args.rounds);
const STORES = args.stores.split(',').filter((s): s is 'sqlite' | 'etcd' => s === 'sqlite' || s === 'etcd');
const GOAL = 2000;

interface RunResult {
  readonly store: string;
  readonly pods: number;
  readonly createToBindS: number;
  readonly podsPerS: number;
  readonly postToBindS: number;
  readonly e2ePodsPerS: number;
  readonly bindP50Ms: number;
  readonly bindP99Ms: number;
  readonly runningP50Ms: number;
  readonly runningP99Ms: number;
  readonly running: number;
  readonly serverCpuS: number;
  readonly serverRssPeakMb: number;
  readonly serverRssEndMb: number;
  readonly hollowCpuS: number;
  readonly hollowRssMb: number;
  /** Store revisions (writes) during the window, per pod — heartbeats and events included. */
  readonly writesPerPod: number;
}

interface PodTimes {
  created?: number;
  bound?: number;
  running?: number;
}

interface WatchEvent {
  type: string;
  object: {
    metadata?: { uid?: string; resourceVersion?: string };
    spec?: { nodeName?: string };
    status?: { phase?: string };
  };
}

function deploymentManifest(i: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `b1-${i}`, namespace: 'default' },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: `b1-${i}` } },
      template: {
        metadata: { labels: { app: `b1-${i}`, bench: 'b1' } },
        spec: {
          containers: [
            {
              name: 'pause',
              image: 'registry.k8s.io/pause:3.9',
              // ClusterLoader2's pod: 1m CPU, 10M memory.
              resources: { requests: { cpu: '1m', memory: '10M' } },
            },
          ],
        },
      },
    },
  });
}

async function waitReadyNodes(endpoint: ApiEndpoint, n: number, timeoutMs: number): Promise<number> {
  const agent = apiAgent(endpoint, 1);
  const t0 = performance.now();
  try {
    for (;;) {
      const body = await callOk(endpoint, agent, 'GET', '/api/v1/nodes');
      const list = JSON.parse(body.toString('utf8')) as {
        items: { status?: { conditions?: { type: string; status: string }[] } }[];
      };
      const ready = list.items.filter((x) =>
        x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      ).length;
      if (ready >= n) return (performance.now() - t0) / 1000;
      if (performance.now() - t0 > timeoutMs) throw new Error(`only ${ready}/${n} nodes Ready`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    agent.destroy();
  }
}

async function run(
  store: 'sqlite' | 'etcd',
  dirs: { server: string; hollow: string },
  round: number,
): Promise<RunResult> {
  let etcd: EtcdHandle | undefined;
  let server: BerthServerHandle | undefined;
  let hollow: BerthProcess | undefined;
  const stopSampling = { stop: false };
  try {
    if (store === 'etcd') etcd = await startEtcd({ name: `b1-${round}` });
    const profDir = args['cpu-prof'] === undefined ? undefined : join(args['cpu-prof'], `${store}-${round}`);
    if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
    // A fresh store each run; the PKI in the data dir is kept (hollow identities stay valid).
    rmSync(join(dirs.server, 'state.db'), { force: true });
    rmSync(join(dirs.server, 'state.db-wal'), { force: true });
    rmSync(join(dirs.server, 'state.db-shm'), { force: true });
    server = await startBerthServer({
      dataDir: dirs.server,
      args: [
        '--log-level',
        'warn',
        '--store',
        store,
        ...(etcd === undefined ? [] : ['--etcd-endpoints', etcd.endpoint]),
      ],
      ...(profDir === undefined ? {} : { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] }),
      readyTimeoutMs: 60_000,
    });
    const endpoint: ApiEndpoint = { url: server.url, token: server.token, caPem: server.caPem };
    const tJoin = performance.now();
    hollow = await startHollow({
      server,
      count: NODES,
      dataDir: dirs.hollow,
      extraArgs: ['--zones', '3', '--join-concurrency', args['join-concurrency']],
      timeoutMs: 30 * 60_000,
    });
    const joinedS = (performance.now() - tJoin) / 1000;
    const readyS = await waitReadyNodes(endpoint, NODES, 5 * 60_000);
    console.log(
      `  [${store}] ${NODES} hollow agents joined and connected in ${joinedS.toFixed(1)} s, all Ready ${readyS.toFixed(1)} s later`,
    );
    // Let the join burst's writes settle before measuring.
    await new Promise((r) => setTimeout(r, 5000));

    const agent = apiAgent(endpoint, 16);
    const listBody = await callOk(endpoint, agent, 'GET', '/api/v1/namespaces/default/pods?limit=1');
    const rv = (JSON.parse(listBody.toString('utf8')) as { metadata: { resourceVersion: string } }).metadata
      .resourceVersion;
    const times = new Map<string, PodTimes>();
    let bound = 0;
    let running = 0;
    let lastBindAt = 0;
    let onAllBound: (() => void) | undefined;
    const allBound = new Promise<void>((resolve) => (onAllBound = resolve));
    let onAllRunning: (() => void) | undefined;
    const allRunning = new Promise<void>((resolve) => (onAllRunning = resolve));
    // The watch resumes from the last revision it saw if the server ends it (a slow watcher is cut
    // off rather than buffered); what was missed meanwhile is then seen late, so such a run says so.
    let lastRv = rv;
    let watchEnds = 0;
    let closed = false;
    let watch: Stream | undefined;
    const onLine = (line: string): void => {
      const now = performance.now();
      const ev = JSON.parse(line) as WatchEvent;
      if (ev.object.metadata?.resourceVersion !== undefined) lastRv = ev.object.metadata.resourceVersion;
      const uid = ev.object.metadata?.uid;
      if (uid === undefined || (ev.type !== 'ADDED' && ev.type !== 'MODIFIED')) return;
      let t = times.get(uid);
      if (t === undefined) {
        t = {};
        times.set(uid, t);
      }
      t.created ??= now;
      if (t.bound === undefined && (ev.object.spec?.nodeName ?? '') !== '') {
        t.bound = now;
        lastBindAt = now;
        if (++bound === PODS) onAllBound?.();
      }
      if (t.running === undefined && ev.object.status?.phase === 'Running') {
        t.running = now;
        if (++running === PODS) onAllRunning?.();
      }
    };
    const openWatch = async (): Promise<void> => {
      watch = await stream(
        endpoint,
        agent,
        `/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&resourceVersion=${lastRv}&labelSelector=bench%3Db1`,
        onLine,
        () => {
          if (closed) return;
          watchEnds++;
          openWatch().catch((err: unknown) => {
            console.error(`\n  watch could not be resumed: ${String(err)}`);
          });
        },
      );
    };
    await openWatch();

    let rssPeak = 0;
    const sample = async (): Promise<void> => {
      while (!stopSampling.stop) {
        rssPeak = Math.max(rssPeak, procStats(server?.pid ?? 0)?.rssMb ?? 0);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const sampling = sample();
    const server0 = procStats(server.pid);
    const hollow0 = procStats(hollow.pid);
    const tPost = performance.now();
    let nextDeployment = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (;;) {
          const i = nextDeployment++;
          if (i >= DEPLOYMENTS) return;
          await callOk(
            endpoint,
            agent,
            'POST',
            '/apis/apps/v1/namespaces/default/deployments',
            deploymentManifest(i),
            {},
            201,
          );
        }
      }),
    );
    const progress = setInterval(() => {
      process.stdout.write(`\r  [${store}] bound ${bound}/${PODS}, running ${running}   `);
    }, 1000);
    const timeout = (ms: number, what: string) =>
      new Promise<never>((_, reject) => {
        setTimeout(() => {
          reject(new Error(`${what} not reached in ${ms / 1000} s`));
        }, ms).unref();
      });
    try {
      await Promise.race([allBound, timeout(15 * 60_000, `${PODS} pods bound`)]);
    } finally {
      clearInterval(progress);
      process.stdout.write('\n');
    }
    const server1 = procStats(server.pid);
    const hollow1 = procStats(hollow.pid);
    await Promise.race([allRunning, new Promise((r) => setTimeout(r, 120_000))]);
    stopSampling.stop = true;
    await sampling;
    closed = true;
    watch?.close();
    if (watchEnds > 0)
      console.log(`  [${store}] the server ended the bench's watch ${watchEnds} time(s); resumed each time`);

    // Durable: a consistent LIST from the store sees every pod bound.
    const listed = JSON.parse(
      (
        await callOk(endpoint, agent, 'GET', '/api/v1/namespaces/default/pods?labelSelector=bench%3Db1')
      ).toString('utf8'),
    ) as { metadata: { resourceVersion: string }; items: { spec?: { nodeName?: string } }[] };
    const boundInStore = listed.items.filter((p) => (p.spec?.nodeName ?? '') !== '').length;
    agent.destroy();
    if (boundInStore !== PODS) throw new Error(`only ${boundInStore}/${PODS} pods bound in the store`);

    const all = [...times.values()];
    const firstCreate = Math.min(...all.map((t) => t.created ?? Infinity));
    const bindMs = all.map((t) => (t.bound ?? NaN) - (t.created ?? NaN)).sort((a, b) => a - b);
    const runMs = all
      .filter((t) => t.running !== undefined)
      .map((t) => (t.running ?? NaN) - (t.created ?? NaN))
      .sort((a, b) => a - b);
    const createToBindS = (lastBindAt - firstCreate) / 1000;
    const postToBindS = (lastBindAt - tPost) / 1000;
    return {
      store,
      pods: PODS,
      createToBindS,
      podsPerS: PODS / createToBindS,
      postToBindS,
      e2ePodsPerS: PODS / postToBindS,
      bindP50Ms: percentile(bindMs, 50),
      bindP99Ms: percentile(bindMs, 99),
      runningP50Ms: percentile(runMs, 50),
      runningP99Ms: percentile(runMs, 99),
      running,
      serverCpuS: (server1?.cpuSeconds ?? NaN) - (server0?.cpuSeconds ?? NaN),
      serverRssPeakMb: rssPeak,
      serverRssEndMb: server1?.rssMb ?? NaN,
      hollowCpuS: (hollow1?.cpuSeconds ?? NaN) - (hollow0?.cpuSeconds ?? NaN),
      hollowRssMb: hollow1?.rssMb ?? NaN,
      writesPerPod: (Number(listed.metadata.resourceVersion) - Number(rv)) / PODS,
    };
  } finally {
    stopSampling.stop = true;
    await hollow?.stop();
    await server?.stop();
    await etcd?.stop();
  }
}

const f0 = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');

console.log(
  `B1 scheduler, end to end: ${NODES} hollow nodes, ${PODS} pods as ${DEPLOYMENTS} Deployments × ${REPLICAS}; ` +
    `${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; node ${process.version}`,
);
const skipEtcd = STORES.includes('etcd') ? etcdAvailable() : undefined;
if (skipEtcd !== undefined) console.log(`  etcd run skipped: ${skipEtcd}`);
const root = mkdtempSync(join(tmpdir(), 'berth-b1-'));
const dirs = { server: join(root, 'server'), hollow: join(root, 'hollow') };
const results: RunResult[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const store of STORES) {
      if (store === 'etcd' && skipEtcd !== undefined) continue;
      const r = await run(store, dirs, round);
      results.push(r);
      console.log(
        `  [${store}] ${f0(r.podsPerS)} pods/s first create → last bind (${f1(r.createToBindS)} s); ` +
          `create→bound p50 ${f0(r.bindP50Ms)} ms p99 ${f0(r.bindP99Ms)} ms; ${r.running}/${r.pods} Running`,
      );
    }
  }
} finally {
  if (args.keep) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}

console.log('');
printTable(
  [
    'store',
    'pods/s create→bind',
    'pods/s POST→bind',
    'bound p50 ms',
    'bound p99 ms',
    'Running p50 ms',
    'Running p99 ms',
    'ctrl CPU-s',
    'ctrl RSS peak MB',
    'hollow CPU-s',
    'writes/pod',
  ],
  results.map((r) => [
    r.store,
    f0(r.podsPerS),
    f0(r.e2ePodsPerS),
    f0(r.bindP50Ms),
    f0(r.bindP99Ms),
    r.running === r.pods ? f0(r.runningP50Ms) : `${f0(r.runningP50Ms)} (${r.running} ran)`,
    r.running === r.pods ? f0(r.runningP99Ms) : '–',
    f1(r.serverCpuS),
    f0(r.serverRssPeakMb),
    f1(r.hollowCpuS),
    f1(r.writesPerPod),
  ]),
);
console.log('');
console.log('Published anchors (not measured here):');
console.log(
  '  kube-scheduler scheduler_perf CI floor, SchedulingBasic 5000Nodes/10000Pods: 680 pods/s (no kubelets)',
);
console.log('  Nomad C1M (2016, 5 servers, 5,000 clients): ≈ 3,750 containers/s');
console.log(`Goal here: ≥ ${GOAL} pods/s first create → last bind.`);
for (const r of results) {
  console.log(`  ${r.store}: ${f0(r.podsPerS)} pods/s — ${r.podsPerS >= GOAL ? 'meets' : 'below'} the goal`);
}
