/**
 * Scheduler core micro-benchmark — the IN-MEMORY CORE figure, not B1.
 *
 * Schedules 10,000 pods (100 "deployments" × 100 replicas, each requesting 1m CPU / 10 MB, the B1
 * shape) onto 1,000 in-memory nodes through the real Scheduler — queue, cache, plugins, assume, bind
 * cycle, metrics — with a no-op binder that reports each binding back as the informer would. There
 * is no API server, no store and no network, so there is no in-process baseline to set it against:
 * it is the ceiling the scheduling loop itself imposes. The end-to-end B1 (hollow agents, durable
 * binds through the API) is measured separately. Usage:
 *   npm run bench -- scheduler-core [--nodes N] [--pods N] [--rounds N] [--percentage P]
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import type { BindResult } from '../controller/scheduler/framework.js';
import { Scheduler } from '../controller/scheduler/scheduler.js';
import { boundCopy, makeNode, makePod } from '../controller/scheduler/testing/fixtures.js';
import type { PodLike } from '../controller/scheduler/types.js';
import { median, printTable } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    pods: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    percentage: { type: 'string', default: '0' },
  },
});
const numNodes = Number(args.nodes);
const numPods = Number(args.pods);
const rounds = Number(args.rounds);
const percentage = Number(args.percentage);

const zones = ['zone-a', 'zone-b', 'zone-c'];
const nodes = Array.from({ length: numNodes }, (_, i) =>
  makeNode(`node-${i}`, {
    cpu: '32',
    memory: '64Gi',
    pods: 110,
    labels: { 'topology.kubernetes.io/zone': zones[i % zones.length] ?? 'zone-a' },
  }),
);
const perDeployment = 100;
const pods: PodLike[] = Array.from({ length: numPods }, (_, i) => {
  const d = Math.floor(i / perDeployment);
  return makePod(`dep-${d}-${i % perDeployment}`, {
    cpu: '1m',
    memory: '10M',
    labels: { app: `dep-${d}`, 'pod-template-hash': `h${d}` },
  });
});

interface RoundResult {
  seconds: number;
  podsPerSecond: number;
  cpuSeconds: number;
}

async function round(pct: number): Promise<RoundResult> {
  let bound = 0;
  let done: () => void = () => undefined;
  const allBound = new Promise<void>((r) => (done = r));
  const sched: Scheduler = new Scheduler({
    profiles: [{ schedulerName: 'default-scheduler', percentageOfNodesToScore: pct }],
    registry: new Registry(),
    parallelism: 64,
    binder: {
      bind(pod, nodeName): Promise<BindResult> {
        // The informer's view of the successful binding, delivered after the reply.
        queueMicrotask(() => {
          sched.updatePod(boundCopy(pod, nodeName));
        });
        if (++bound === numPods) done();
        return Promise.resolve({ ok: true });
      },
    },
    sink: {
      scheduled: () => undefined,
      unschedulable: (pod, message) => {
        throw new Error(`unexpected: ${pod.metadata?.name ?? ''} unschedulable: ${message}`);
      },
    },
  });
  for (const n of nodes) sched.addNode(n);
  const run = sched.run();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const p of pods) sched.addPod(p);
  await allBound;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await sched.close();
  await run;
  return { seconds, podsPerSecond: numPods / seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

console.log(
  `scheduler core (in-memory): ${numPods} pods (${numPods / perDeployment} × ${perDeployment}, 1m CPU / 10 MB) onto ${numNodes} nodes, no-op binder, ${rounds} rounds + 1 warm-up`,
);
console.log(
  'THIS IS THE IN-MEMORY CORE FIGURE (no API server, no store). The end-to-end B1 figure is measured separately.\n',
);
const rows: string[][] = [];
for (const pct of percentage > 0 ? [percentage] : [0, 100]) {
  await round(pct); // warm-up
  const results: RoundResult[] = [];
  for (let r = 0; r < rounds; r++) results.push(await round(pct));
  rows.push([
    pct === 0 ? `adaptive (${Math.max(5, 50 - Math.trunc(numNodes / 125))}% of nodes)` : `${pct}% of nodes`,
    median(results.map((r) => r.podsPerSecond)).toFixed(0),
    median(results.map((r) => r.seconds)).toFixed(2),
    median(results.map((r) => numPods / r.cpuSeconds)).toFixed(0),
    results.map((r) => r.podsPerSecond.toFixed(0)).join(' / '),
  ]);
}
printTable(
  ['percentageOfNodesToScore', 'pods/s (median, wall)', 'seconds', 'pods per CPU-second', 'rounds pods/s'],
  rows,
);
console.log(
  `\nmachine load average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (${cpus().length} CPUs)`,
);
