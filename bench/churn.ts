/**
 * B3 — container churn on one agent (shared/reference/performance-anchors.md): containers/s through a
 * full create → run → exit → remove cycle, and the agent's CPU-ms per container.
 *
 * Berth: a real `berth server --with-agent` on the runc runtime (image cached by a warm-up pod).
 * `--count` pods (default 200) at `--concurrency` 8, each `restartPolicy: Never` running `--cmd`
 * (default `true`; `--cmd "sleep 1"` is B3's literal wording) — POST → watch shows `Succeeded` →
 * DELETE → watch shows the pod gone. Rate = count / wall time; agent CPU = the agent process's CPU
 * time over the phase / count (with `--with-agent` the process is server + agent, so the figure is an
 * upper bound for the agent alone).
 *
 * Baseline, measured in the same run: raw foreground `runc run` of the same rootfs and command at the
 * same concurrency (runc creates, starts, waits for the exit and deletes the container and its
 * cgroup), plus the CPU runc itself used per container (this process's reaped children).
 * Target: Berth ≥ 60 % of raw runc's rate and ≤ 20 CPU-ms of agent time per container.
 *
 *   npm run bench -- churn [--count 200] [--concurrency 8] [--cmd true] [--rounds 1] [--skip-berth]
 *     [--agent local|separate] [--server-args "…"] [--agent-args "…"]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { busyboxAvailable } from '../test/harness/images.js';
import { registryAvailable } from '../test/harness/registry.js';
import {
  benchRootfsTar,
  startBerthNode,
  type AgentMode,
  type BerthNode,
  type NodeNames,
} from './lib/berth-node.js';
import { procStats } from './lib/proc-stats.js';
import { openRawRunc, rawRuncAvailable, type RawRunc } from './lib/raw-runc.js';
import { median, percentile, printTable, runConcurrent, type RunResult } from './lib/stats.js';
import { performance } from 'node:perf_hooks';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    cmd: { type: 'string', default: 'true' },
    rounds: { type: 'string', default: '1' },
    'skip-berth': { type: 'boolean', default: false },
    agent: { type: 'string', default: 'local' },
    'server-args': { type: 'string', default: '' },
    'agent-args': { type: 'string', default: '' },
  },
});
const COUNT = Number(args.count);
const CONCURRENCY = Number(args.concurrency);
const CMD = args.cmd.split(' ').filter((a) => a !== '');
const ROUNDS = Number(args.rounds);
const AGENT_MODE: AgentMode = args.agent === 'separate' ? 'separate' : 'local';

interface ChurnResult {
  readonly run: RunResult;
  /** CPU-ms per container: the agent's (Berth) or runc's own (raw). */
  readonly cpuMsPerContainer: number;
  /** Berth: p50 ms of POST → Running seen (and how many were), POST → Succeeded, DELETE → gone. */
  readonly phases?: { running: number; runningSeen: number; succeeded: number; gone: number };
}

/** CPU seconds of this process's waited-for children (`cutime + cstime` of /proc/self/stat). */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function rawRound(raw: RawRunc, round: number): Promise<ChurnResult> {
  const cpu0 = childrenCpuSeconds();
  const run = await runConcurrent(CONCURRENCY, COUNT, async (_w, i) => {
    await raw.runToCompletion(`c${round}-${i}`, CMD);
  });
  return { run, cpuMsPerContainer: ((childrenCpuSeconds() - cpu0) * 1000) / COUNT };
}

async function berthRound(node: BerthNode, round: number): Promise<ChurnResult> {
  const cpu0 = procStats(node.agentPid)?.cpuSeconds ?? NaN;
  const toRunning: number[] = [];
  const toSucceeded: number[] = [];
  const toGone: number[] = [];
  const run = await runConcurrent(CONCURRENCY, COUNT, async (_w, i) => {
    const name = `c${round}-${i}`;
    // Running may be too brief to be reported at all; it is recorded when the watch shows it.
    const running = node.waitFor(name, 'Running', 120_000).catch(() => NaN);
    const done = node.waitFor(name, 'Succeeded', 120_000);
    const t0 = await node.createPod(name, CMD, 'Never');
    const t1 = await done;
    toSucceeded.push(t1 - t0);
    const gone = node.waitFor(name, 'Gone', 120_000);
    const t2 = performance.now();
    await node.deletePod(name);
    toGone.push((await gone) - t2);
    const tr = await Promise.race([running, Promise.resolve(NaN)]);
    if (!Number.isNaN(tr)) toRunning.push(tr - t0);
  });
  const cpu1 = procStats(node.agentPid)?.cpuSeconds ?? NaN;
  const p50 = (xs: number[]): number =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  return {
    run,
    cpuMsPerContainer: ((cpu1 - cpu0) * 1000) / COUNT,
    phases: {
      running: p50(toRunning),
      runningSeen: toRunning.length,
      succeeded: p50(toSucceeded),
      gone: p50(toGone),
    },
  };
}

async function main(): Promise<void> {
  const skip =
    rawRuncAvailable() ?? busyboxAvailable() ?? (args['skip-berth'] ? undefined : registryAvailable());
  if (skip !== undefined) {
    console.log(`churn: skipped — ${skip}`);
    return;
  }
  const tar = await benchRootfsTar();
  const raw: ChurnResult[] = [];
  const berth: ChurnResult[] = [];
  const rawWorld = openRawRunc(tar);
  let node: BerthNode | undefined;
  const suffix = randomBytes(3).toString('hex');
  const names: NodeNames = {
    cgroupRoot: `/berth-bench-${suffix}`,
    runcRoot: `/run/berth-bench-${suffix}/runc`,
    clusterCidr: `10.${200 + (parseInt(suffix, 16) % 50)}.0.0/16`,
    netnsPrefix: `bc${suffix}-`,
    bridgeName: `bc${suffix}`,
    nftTable: `berth_bench_${suffix}`,
  };
  try {
    await rawWorld.runToCompletion('warm', ['true']);
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
      const warm = node.waitFor('warmup', 'Succeeded', 120_000);
      await node.createPod('warmup', ['true'], 'Never');
      await warm;
      await node.deleteAllPods();
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['raw', 'berth'] : ['berth', 'raw'];
      for (const side of order) {
        if (side === 'raw') raw.push(await rawRound(rawWorld, round));
        else if (node !== undefined) berth.push(await berthRound(node, round));
      }
      console.error(`round ${round + 1}/${ROUNDS} done`);
    }
  } finally {
    await node?.close();
    rawWorld.close();
  }

  const rate = (rs: readonly ChurnResult[]): number => median(rs.map((r) => r.run.perSecond));
  const cpu = (rs: readonly ChurnResult[]): number => median(rs.map((r) => r.cpuMsPerContainer));
  const p50 = (rs: readonly ChurnResult[]): number => median(rs.map((r) => r.run.p50Ms));
  const rows = [
    [
      'raw runc run (foreground)',
      `${rate(raw).toFixed(1)}/s`,
      `${p50(raw).toFixed(0)} ms`,
      `${cpu(raw).toFixed(1)} (runc itself)`,
      '',
      '',
    ],
  ];
  if (berth.length > 0) {
    rows.push([
      'berth pod create→Succeeded→deleted',
      `${rate(berth).toFixed(1)}/s`,
      `${p50(berth).toFixed(0)} ms`,
      `${cpu(berth).toFixed(1)} (${AGENT_MODE === 'local' ? 'server + agent' : 'agent'})`,
      `${((rate(berth) / rate(raw)) * 100).toFixed(0)} %`,
      '≥ 60 % of raw; ≤ 20 CPU-ms',
    ]);
  }
  console.log(
    `\nB3 container churn: ${COUNT} × \`${CMD.join(' ')}\` at concurrency ${CONCURRENCY} (medians of ${ROUNDS} round(s))`,
  );
  printTable(['what', 'containers/s', 'p50 cycle', 'CPU-ms/container', 'berth / raw', 'target'], rows);
  const ph = berth[0]?.phases;
  if (ph !== undefined) {
    console.log(
      `\nberth cycle, p50 (first round): POST → Running seen ${ph.running.toFixed(0)} ms (${ph.runningSeen}/${COUNT} seen), ` +
        `POST → Succeeded ${ph.succeeded.toFixed(0)} ms, DELETE → gone ${ph.gone.toFixed(0)} ms`,
    );
  }
}

await main();
