/**
 * B2 — apply-to-Running latency with a cached image (shared/reference/performance-anchors.md), and the
 * agent's footprint (B6's agent line).
 *
 * Berth: a real `berth server --with-agent` on the runc runtime, a local registry with busybox, the
 * image pulled once by a warm-up pod. Each latency is POST of a pod (`sleep 3600`) → the pod watch
 * shows `phase: Running` (the agent saw the container's process start and the status reached the
 * API). `--sequential` pods (default 100) one after another, each left running (so later pods start
 * on a node with more pods), then all are deleted; then a burst of `--burst` (20) created at once on
 * the empty node. A pod not Running within 60 s is reported and left out of the percentiles.
 *
 * Baseline, measured in the same run: raw `runc run -d` of the same busybox rootfs with the same
 * `config.json` generator — spawn → runc returns (the container's process is running) — for the same
 * sequential count and burst. The raw side has no image store, overlay mount, pod network, API or
 * watch in the path: the difference is Berth's whole overhead.
 *
 * Footprint: the agent's RSS idle (after the warm-up, image cached, no pods) and with 30 running pods.
 * With `--with-agent` the agent lives in the server's process, so the figure is server + agent; it is
 * labelled that way, and beside it the same server started without an agent (idle) is measured, the
 * difference being the agent's share. Targets: p50 ≤ 150 ms, p99 ≤ 500 ms (burst p99 ≤ 1 s), agent ≤ 60 MB idle.
 *
 *   npm run bench -- podstart [--sequential 100] [--burst 20] [--rounds 1] [--rss-pods 30]
 *     [--skip-berth] [--agent local|separate]
 *     [--server-args "…"] [--agent-args "…"]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  startBerthNode,
  benchRootfsTar,
  type AgentMode,
  type BerthNode,
  type NodeNames,
} from './lib/berth-node.js';
import { procStats } from './lib/proc-stats.js';
import { openRawRunc, rawRuncAvailable, type RawRunc } from './lib/raw-runc.js';
import { median, percentile, printTable } from './lib/stats.js';
import { registryAvailable } from '../test/harness/registry.js';
import { busyboxAvailable } from '../test/harness/images.js';
import { randomBytes } from 'node:crypto';
import { startBerthServer } from '../test/harness/berth-server.js';

const { values: args } = parseArgs({
  options: {
    sequential: { type: 'string', default: '100' },
    burst: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '1' },
    'rss-pods': { type: 'string', default: '30' },
    'skip-berth': { type: 'boolean', default: false },
    agent: { type: 'string', default: 'local' },
    'server-args': { type: 'string', default: '' },
    'agent-args': { type: 'string', default: '' },
  },
});
const SEQUENTIAL = Number(args.sequential);
const BURST = Number(args.burst);
const ROUNDS = Number(args.rounds);
const AGENT_MODE: AgentMode = args.agent === 'separate' ? 'separate' : 'local';
const RSS_PODS = Number(args['rss-pods']);

interface Latencies {
  readonly sequential: number[];
  readonly burst: number[];
}

const fmt = (ms: number): string => (Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : 'n/a');
const sorted = (xs: readonly number[]): number[] => xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);

async function rawRound(raw: RawRunc, round: number): Promise<Latencies> {
  const sequential: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++)
    sequential.push(await raw.runDetached(`r${round}-s${i}`, ['sleep', '3600']));
  await raw.deleteAll();
  const burst = await Promise.all(
    Array.from({ length: BURST }, (_, i) => raw.runDetached(`r${round}-b${i}`, ['sleep', '3600'])),
  );
  await raw.deleteAll();
  return { sequential, burst };
}

/** Pods that did not reach Running in time; reported, and left out of the percentiles. */
const stuck: string[] = [];

async function startToRunning(node: BerthNode, name: string): Promise<number> {
  const running = node.waitFor(name, 'Running', 60_000);
  const t0 = await node.createPod(name, ['sleep', '3600']);
  try {
    return (await running) - t0;
  } catch (err) {
    stuck.push(name);
    console.error(`${(err as Error).message}\n${await node.describe(name)}`);
    return NaN;
  }
}

async function berthRound(node: BerthNode, round: number): Promise<Latencies> {
  const sequential: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) sequential.push(await startToRunning(node, `r${round}-s${i}`));
  // A node takes 110 pods (the kubelet's default): the burst starts on an empty node.
  await node.deleteAllPods();
  const burst = await Promise.all(
    Array.from({ length: BURST }, (_, i) => startToRunning(node, `r${round}-b${i}`)),
  );
  await node.deleteAllPods();
  return { sequential, burst };
}

async function settle(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  const skip =
    rawRuncAvailable() ?? busyboxAvailable() ?? (args['skip-berth'] ? undefined : registryAvailable());
  if (skip !== undefined) {
    console.log(`podstart: skipped — ${skip}`);
    return;
  }
  const tar = await benchRootfsTar();
  const raw: Latencies[] = [];
  const berth: Latencies[] = [];
  const footprint: { idleMb?: number; loadedMb?: number; cpuIdlePct?: number; serverOnlyMb?: number } = {};
  const rawWorld = openRawRunc(tar);
  let node: BerthNode | undefined;
  const suffix = randomBytes(3).toString('hex');
  const names: NodeNames = {
    cgroupRoot: `/berth-bench-${suffix}`,
    runcRoot: `/run/berth-bench-${suffix}/runc`,
    clusterCidr: `10.${200 + (parseInt(suffix, 16) % 50)}.0.0/16`,
    netnsPrefix: `bb${suffix}-`,
    bridgeName: `bb${suffix}`,
    nftTable: `berth_bench_${suffix}`,
  };
  try {
    // Warm runc (page cache, binary) so the first measured start is not a cold one.
    await rawWorld.runDetached('warm', ['true']);
    await rawWorld.deleteAll();
    if (!args['skip-berth']) {
      const serverArgs = args['server-args'].split(' ').filter((a) => a !== '');
      node = await startBerthNode({
        rootfsTar: tar,
        agentMode: AGENT_MODE,
        names,
        serverArgs,
        agentArgs: args['agent-args'].split(' ').filter((a) => a !== ''),
        log: (l) => {
          console.error(l);
        },
      });
      // Warm-up pod: pulls the image, so every measured pod starts from a cached one.
      await startToRunning(node, 'warmup');
      await node.deleteAllPods();
      await settle(3000);
      const before = procStats(node.agentPid);
      const t0 = performance.now();
      await settle(5000);
      const after = procStats(node.agentPid);
      footprint.idleMb = after?.rssMb ?? NaN;
      if (before !== undefined && after !== undefined) {
        footprint.cpuIdlePct =
          ((after.cpuSeconds - before.cpuSeconds) / ((performance.now() - t0) / 1000)) * 100;
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which side goes first, so neither always runs on a warmer machine.
      const order = round % 2 === 0 ? ['raw', 'berth'] : ['berth', 'raw'];
      for (const side of order) {
        if (side === 'raw') raw.push(await rawRound(rawWorld, round));
        else if (node !== undefined) berth.push(await berthRound(node, round));
      }
      console.error(`round ${round + 1}/${ROUNDS} done`);
    }
    if (node !== undefined && RSS_PODS > 0) {
      await Promise.all(
        Array.from({ length: RSS_PODS }, (_, i) => startToRunning(node as BerthNode, `rss-${i}`)),
      );
      await settle(5000);
      footprint.loadedMb = procStats(node.agentPid)?.rssMb ?? NaN;
      await node.deleteAllPods();
    }
  } finally {
    await node?.close();
    rawWorld.close();
  }
  if (node !== undefined && AGENT_MODE === 'local') {
    // The same server without the agent, idle: what the all-in-one's RSS owes to the controller.
    const plain = await startBerthServer({
      args: ['--cluster-cidr', names.clusterCidr],
      readyTimeoutMs: 60_000,
    });
    try {
      await settle(8000);
      footprint.serverOnlyMb = procStats(plain.pid)?.rssMb ?? NaN;
    } finally {
      await plain.destroy();
    }
  }

  const summary = (runs: readonly Latencies[], key: keyof Latencies): { p50: number; p99: number } => ({
    p50: median(runs.map((r) => percentile(sorted(r[key]), 50))),
    p99: median(runs.map((r) => percentile(sorted(r[key]), 99))),
  });
  const rows: string[][] = [];
  for (const key of ['sequential', 'burst'] as const) {
    const r = summary(raw, key);
    const n = key === 'sequential' ? SEQUENTIAL : BURST;
    rows.push([`raw runc run -d, ${key} (${n})`, fmt(r.p50), fmt(r.p99), '', '']);
    if (berth.length > 0) {
      const b = summary(berth, key);
      rows.push([
        `berth apply→Running, ${key} (${n})`,
        fmt(b.p50),
        fmt(b.p99),
        `${(b.p50 / r.p50).toFixed(1)}× / ${(b.p99 / r.p99).toFixed(1)}×`,
        key === 'sequential' ? 'p50 ≤ 150 ms, p99 ≤ 500 ms' : 'p99 ≤ 1 s',
      ]);
    }
  }
  if (stuck.length > 0) {
    console.log(
      `\n${stuck.length} Berth pod(s) did not reach Running within 60 s (left out of the percentiles): ${stuck.join(', ')}`,
    );
  }
  if (node !== undefined) console.log(`\nBerth node runtime: ${node.runtimeVersion} (agent ${AGENT_MODE})`);
  console.log(`\nB2 apply-to-Running, cached image (medians of ${ROUNDS} round(s) of per-round percentiles)`);
  printTable(['what', 'p50', 'p99', 'berth / raw (p50 / p99)', 'target'], rows);
  if (node !== undefined) {
    console.log(
      AGENT_MODE === 'local'
        ? '\nAgent footprint (server + agent in one process, `berth server --with-agent`; run from source via tsx)'
        : '\nAgent footprint (the `berth agent` process alone; run from source via tsx)',
    );
    printTable(
      ['what', 'value', 'target'],
      [
        [
          'RSS idle (image cached, no pods)',
          `${(footprint.idleMb ?? NaN).toFixed(1)} MB`,
          '≤ 60 MB (agent alone)',
        ],
        ['CPU idle', `${(footprint.cpuIdlePct ?? NaN).toFixed(2)} %`, '< 1 % of a core'],
        ...(RSS_PODS > 0
          ? [[`RSS with ${RSS_PODS} running pods`, `${(footprint.loadedMb ?? NaN).toFixed(1)} MB`, '']]
          : []),
        ...(footprint.serverOnlyMb === undefined
          ? []
          : [
              [
                'baseline: the same server without the agent, idle',
                `${footprint.serverOnlyMb.toFixed(1)} MB`,
                '',
              ],
              [
                'agent share of the idle RSS (difference)',
                `${((footprint.idleMb ?? NaN) - footprint.serverOnlyMb).toFixed(1)} MB`,
                '≤ 60 MB',
              ],
            ]),
      ],
    );
  }
}

await main();
