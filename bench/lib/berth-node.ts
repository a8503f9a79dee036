/**
 * The Berth side of B2/B3 (bench/podstart.ts, bench/churn.ts): a real `berth server --with-agent`
 * (spawned from source by test/harness/berth-server.ts; the local agent runs the runc runtime as root)
 * plus a real registry holding the busybox image, driven over the Kubernetes API like any client —
 * pods created with POST and observed through one pod watch, so a latency is "API accepted the create
 * → a watch event shows the phase", what a user of `kubectl apply` then `kubectl get -w` sees.
 *
 * Owns cleanup: `close()` deletes the bench namespace's pods, stops the server, then sweeps whatever a
 * crash could leave (runc containers under the agent's data dir, mounts under it, the agent's cgroup
 * root, its netns, bridge and nft table) and removes every dir. An `exit` hook kills children if a
 * bench dies first (the harnesses' own hooks).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Agent } from 'node:https';
import { BridgePodNetwork } from '../../agent/network/bridge-pod-network.js';
import { startBerthAgent, type BerthProcess } from '../../test/harness/agent.js';
import { startBerthServer, type BerthServerHandle } from '../../test/harness/berth-server.js';
import {
  busyboxEntries,
  makeImage,
  makeLayer,
  makeTar,
  pushImage,
  type TarEntry,
} from '../../test/harness/images.js';
import { startRegistry, type RegistryHandle } from '../../test/harness/registry.js';
import { apiAgent, call, callOk, stream, type ApiEndpoint, type Stream } from './https-client.js';
import { removeCgroupTree, runcPath } from './raw-runc.js';

/** busybox plus the applets the benches run; the raw-runc baseline unpacks the same tar. */
export async function benchRootfsTar(): Promise<Buffer> {
  const entries: TarEntry[] = busyboxEntries();
  for (const a of ['true', 'false', 'id', 'hostname'])
    entries.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  return makeTar(entries);
}

/** What the agent's network and runtime are named in this run, so that the sweep finds them. */
export interface NodeNames {
  readonly cgroupRoot: string;
  /** runc `--root` of the agent (absolute; removed by the sweep). */
  readonly runcRoot: string;
  /** Pod addresses are cut from this (a random /16 per run, so two benches' bridges never clash). */
  readonly clusterCidr: string;
  readonly netnsPrefix: string;
  readonly bridgeName: string;
  readonly nftTable: string;
}

export interface PodEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly name: string;
  readonly phase: string;
  /** performance.now() when the event arrived. */
  readonly at: number;
}

export interface BerthNode {
  readonly server: BerthServerHandle;
  readonly image: string;
  readonly namespace: string;
  /** The process the agent runs in: the server's with `local`, its own with `separate`. */
  readonly agentPid: number;
  readonly agentMode: AgentMode;
  /** The node's `containerRuntimeVersion`, e.g. `runc://1.1.5`. */
  readonly runtimeVersion: string;
  /** Creates a pod; resolves with performance.now() taken just before the request was sent. */
  createPod(name: string, command: readonly string[], restartPolicy?: 'Always' | 'Never'): Promise<number>;
  deletePod(name: string): Promise<void>;
  /** Resolves with the event's arrival time once `name` shows `phase` (or, for 'Gone', is deleted). */
  waitFor(name: string, phase: string, timeoutMs?: number): Promise<number>;
  /** The pod's status and its events, for a failure message. */
  describe(name: string): Promise<string>;
  /** Deletes every pod in the namespace and waits until none is left. */
  deleteAllPods(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

interface Waiter {
  readonly phase: string;
  resolve(at: number): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * `local`: `berth server --with-agent` (one process). `separate`: `berth server` plus a `berth agent
 * --runtime runc` process, so that the agent's own RSS and CPU can be read.
 */
export type AgentMode = 'local' | 'separate';

export interface StartBerthNodeOptions {
  readonly rootfsTar: Buffer;
  readonly agentMode: AgentMode;
  /** Extra `berth server` arguments. */
  readonly serverArgs?: readonly string[];
  /** Extra `berth agent` arguments (separate mode). */
  readonly agentArgs?: readonly string[];
  readonly names: NodeNames;
  /** Berth's own log goes to the server handle's output; printed when the bench fails. */
  readonly log?: (line: string) => void;
}

export async function startBerthNode(opts: StartBerthNodeOptions): Promise<BerthNode> {
  const namespace = 'default';
  let registry: RegistryHandle | undefined;
  let server: BerthServerHandle | undefined;
  let watch: Stream | undefined;
  let agent: BerthProcess | undefined;
  const sweep = async (): Promise<void> => {
    await sweepNode(server?.dataDir, opts.names);
    await sweepNode(agent?.dataDir, opts.names);
  };
  // The all-in-one agent takes its host resource names from the environment (cli/local-agent.ts).
  const n = opts.names;
  Object.assign(process.env, {
    BERTH_LOCAL_RUNTIME: 'runc',
    BERTH_LOCAL_BRIDGE: n.bridgeName,
    BERTH_LOCAL_NETNS_PREFIX: n.netnsPrefix,
    BERTH_LOCAL_NFT_TABLE: n.nftTable,
    BERTH_LOCAL_CGROUP_ROOT: n.cgroupRoot,
    BERTH_LOCAL_RUNC_ROOT: n.runcRoot,
    BERTH_LOCAL_IP_FORWARD: '0',
  });
  try {
    registry = await startRegistry({ mode: 'plain' });
    const img = makeImage([makeLayer(opts.rootfsTar)], { config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] } });
    await pushImage(registry, 'bench/busybox', 'bench', img);
    const image = `${registry.host}/bench/busybox:bench`;
    const local = opts.agentMode === 'local';
    server = await startBerthServer({
      args: [
        ...(local ? ['--with-agent', '--node-name', 'bench-node'] : []),
        '--cluster-cidr',
        n.clusterCidr,
        ...(opts.serverArgs ?? []),
      ],
      readyTimeoutMs: 60_000,
    });
    if (!local) {
      const netFlags = agentNetworkFlags(n);
      agent = await startBerthAgent({
        server,
        nodeName: 'bench-node',
        extraArgs: [
          '--runtime',
          'runc',
          '--runc-root',
          n.runcRoot,
          '--cgroup-root',
          n.cgroupRoot,
          ...netFlags,
          ...(opts.agentArgs ?? []),
        ],
      });
    }
    const ep: ApiEndpoint = { url: server.url, token: server.token, caPem: server.caPem };
    const writes: Agent = apiAgent(ep, 32);
    const watches: Agent = apiAgent(ep, 4);
    const podsPath = `/api/v1/namespaces/${namespace}/pods`;

    const runtimeVersion = await waitNodeReady(ep, writes, 'bench-node', 60_000);
    // Measuring the fake runtime (a simulator) would print meaningless figures.
    if (!runtimeVersion.startsWith('runc://')) {
      throw new Error(`the bench node runs ${runtimeVersion || 'an unknown runtime'}, not runc`);
    }

    const phases = new Map<string, string>();
    const waiters = new Map<string, Waiter[]>();
    const settle = (name: string, phase: string, at: number): void => {
      const list = waiters.get(name);
      if (list === undefined) return;
      const left = list.filter((w) => {
        // A pod that failed or is gone will never reach the phase waited for: fail fast.
        const hopeless = (phase === 'Failed' && w.phase !== 'Gone') || phase === 'Gone';
        if (w.phase !== phase && !hopeless) return true;
        clearTimeout(w.timer);
        if (w.phase === phase) w.resolve(at);
        else w.reject(new Error(`pod ${name} ${phase === 'Gone' ? 'was deleted' : 'failed'}`));
        return false;
      });
      if (left.length === 0) waiters.delete(name);
      else waiters.set(name, left);
    };
    const list = JSON.parse((await callOk(ep, writes, 'GET', podsPath)).toString('utf8')) as {
      metadata: { resourceVersion: string };
    };
    watch = await stream(
      ep,
      watches,
      `${podsPath}?watch=1&allowWatchBookmarks=false&resourceVersion=${list.metadata.resourceVersion}`,
      (line) => {
        const at = performance.now();
        if (line === '') return;
        const ev = JSON.parse(line) as {
          type: string;
          object: { metadata?: { name?: string }; status?: { phase?: string } };
        };
        const name = ev.object.metadata?.name;
        if (name === undefined) return;
        if (ev.type === 'DELETED') {
          phases.delete(name);
          settle(name, 'Gone', at);
          return;
        }
        const phase = ev.object.status?.phase ?? 'Pending';
        phases.set(name, phase);
        settle(name, phase, at);
      },
    );

    const node: BerthNode = {
      server,
      image,
      namespace,
      agentPid: agent?.pid ?? server.pid,
      agentMode: opts.agentMode,
      runtimeVersion,
      createPod: async (name, command, restartPolicy = 'Always') => {
        const body = JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, labels: { app: 'bench' } },
          spec: {
            restartPolicy,
            terminationGracePeriodSeconds: 0,
            containers: [{ name: 'c', image, imagePullPolicy: 'IfNotPresent', command: [...command] }],
          },
        });
        const t0 = performance.now();
        await callOk(ep, writes, 'POST', podsPath, body, {}, 201);
        return t0;
      },
      deletePod: async (name) => {
        // Graceful (no gracePeriodSeconds=0, which force-deletes the object at once): the pod leaves
        // the API only once the agent has stopped its containers; the pods' own grace is 0 s.
        const r = await call(ep, writes, 'DELETE', `${podsPath}/${name}`);
        if (r.status !== 200 && r.status !== 202 && r.status !== 404) {
          throw new Error(`DELETE pod ${name}: HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`);
        }
      },
      waitFor: (name, phase, timeoutMs = 60_000) => {
        if (phase !== 'Gone' && phases.get(name) === phase) return Promise.resolve(performance.now());
        return new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => {
            reject(
              new Error(
                `pod ${name} not ${phase} after ${timeoutMs} ms (last phase ${phases.get(name) ?? 'none'})`,
              ),
            );
          }, timeoutMs);
          const list = waiters.get(name) ?? [];
          list.push({ phase, resolve, reject, timer });
          waiters.set(name, list);
        });
      },
      describe: async (name) => {
        const pod = await call(ep, writes, 'GET', `${podsPath}/${name}`);
        const events = await call(
          ep,
          writes,
          'GET',
          `/api/v1/namespaces/${namespace}/events?fieldSelector=involvedObject.name%3D${name}`,
        );
        const status =
          pod.status === 200
            ? (JSON.parse(pod.body.toString('utf8')) as { status?: unknown }).status
            : pod.status;
        const items =
          events.status === 200
            ? (
                JSON.parse(events.body.toString('utf8')) as { items: { reason?: string; message?: string }[] }
              ).items.map((e) => `${e.reason ?? ''}: ${e.message ?? ''}`)
            : [];
        return `status ${JSON.stringify(status)}\nevents:\n  ${items.join('\n  ')}`;
      },
      deleteAllPods: async (timeoutMs = 120_000) => {
        const deadline = performance.now() + timeoutMs;
        for (;;) {
          const items = (
            JSON.parse((await callOk(ep, writes, 'GET', podsPath)).toString('utf8')) as {
              items: { metadata: { name: string } }[];
            }
          ).items;
          if (items.length === 0) return;
          if (performance.now() > deadline)
            throw new Error(`${items.length} pods still there after ${timeoutMs} ms`);
          await Promise.all(items.map((p) => node.deletePod(p.metadata.name)));
          await new Promise((r) => setTimeout(r, 500));
        }
      },
      close: async () => {
        try {
          await node.deleteAllPods(60_000);
          // Let the agent finish tearing down (containers, netns) before it is stopped.
          const deadline = performance.now() + 30_000;
          while (runcContainers(n.runcRoot).length > 0 && performance.now() < deadline) {
            await new Promise((r) => setTimeout(r, 200));
          }
        } catch (err) {
          opts.log?.(`cleanup: ${(err as Error).message}`);
        }
        watch?.close();
        writes.destroy();
        watches.destroy();
        await agent?.stop();
        await server?.stop();
        await sweep();
        await agent?.destroy();
        if (server !== undefined) await server.destroy();
        await registry?.stop();
      },
    };
    return node;
  } catch (err) {
    if (server !== undefined) opts.log?.(`berth server output:\n${server.output().slice(-4000)}`);
    if (agent !== undefined) opts.log?.(`berth agent output:\n${agent.output().slice(-4000)}`);
    watch?.close();
    await agent?.stop();
    await server?.stop();
    await sweep();
    await agent?.destroy();
    await server?.destroy();
    await registry?.stop();
    throw err;
  }
}

const repoRoot = new URL('../..', import.meta.url).pathname;

/**
 * The `berth agent` flags that rename its bridge, netns prefix and nft table. Without them a separate
 * agent would take the machine-wide defaults (`berth0`, …) that other users of this host may own, and
 * the sweep could not tell its leftovers from theirs — so the bench refuses to run that way.
 */
function agentNetworkFlags(n: NodeNames): string[] {
  const help = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'cli/main.ts'), 'agent', '--help'],
    {
      cwd: repoRoot,
      encoding: 'utf8',
    },
  ).stdout;
  const pick = (candidates: readonly string[]): string | undefined =>
    candidates.find((f) => new RegExp(`${f}[ =<]`).test(help));
  const bridge = pick(['--bridge-name', '--bridge']);
  const prefix = pick(['--netns-prefix']);
  const table = pick(['--nft-table']);
  if (bridge === undefined || prefix === undefined || table === undefined) {
    throw new Error(
      '--agent separate needs `berth agent` flags to rename its bridge, netns prefix and nft table (not in this build); use --agent local',
    );
  }
  return [bridge, n.bridgeName, prefix, n.netnsPrefix, table, n.nftTable];
}

/** Waits for the node's Ready condition; resolves with its `containerRuntimeVersion`. */
async function waitNodeReady(
  ep: ApiEndpoint,
  agent: Agent,
  name: string,
  timeoutMs: number,
): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await call(ep, agent, 'GET', `/api/v1/nodes/${name}`);
    if (r.status === 200) {
      const n = JSON.parse(r.body.toString('utf8')) as {
        status?: {
          conditions?: { type: string; status: string }[];
          nodeInfo?: { containerRuntimeVersion?: string };
        };
      };
      if (n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true) {
        return n.status.nodeInfo?.containerRuntimeVersion ?? '';
      }
    }
    if (performance.now() > deadline) throw new Error(`node ${name} not Ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Removes what the agent may have left after a crash: runc containers under any runc root in its data
 * dir, mounts under the data dir, its cgroup root, network namespaces with its prefix, its bridge and
 * nft table. Each step ignores "not there".
 */
export async function sweepNode(dataDir: string | undefined, names: NodeNames): Promise<void> {
  const roots = [names.runcRoot, ...(dataDir !== undefined ? findRuncRoots(dataDir) : [])];
  for (const root of roots) {
    for (const id of runcContainers(root)) {
      spawnSync(runcPath, ['--root', root, 'delete', '-f', id], { stdio: 'ignore' });
    }
  }
  if (dataDir !== undefined && existsSync(dataDir)) {
    for (const m of mountsUnder(dataDir).reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
  rmSync(names.runcRoot, { recursive: true, force: true });
  try {
    rmdirSync(dirname(names.runcRoot)); // the per-run parent, when empty
  } catch {
    // not empty or not there
  }
  removeCgroupTree(names.cgroupRoot);
  try {
    await BridgePodNetwork.removeAll({
      bridgeName: names.bridgeName,
      netnsPrefix: names.netnsPrefix,
      nftTable: names.nftTable,
    });
  } catch (err) {
    console.error(`sweep: ${(err as Error).message}`);
  }
}

function runcContainers(root: string): string[] {
  if (!existsSync(root)) return [];
  const r = spawnSync(runcPath, ['--root', root, 'list', '-q'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l !== '') : [];
}

/** Directories holding runc state (`<id>/state.json`) under `dir`, at most 4 levels down. */
function findRuncRoots(dir: string, depth = 0): string[] {
  if (depth > 4) return [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  const isRoot = entries.some((e) => e.isDirectory() && existsSync(join(dir, e.name, 'state.json')));
  if (isRoot) out.push(dir);
  for (const e of entries) if (e.isDirectory()) out.push(...findRuncRoots(join(dir, e.name), depth + 1));
  return out;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}
