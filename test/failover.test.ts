/**
 * B5, failover: a real `berth server` (default node-lifecycle settings: 8 s grace, 4 s default
 * toleration) and three real `berth agent --runtime fake` processes run a 10-replica Deployment
 * applied with kubectl. One agent is killed with SIGKILL; the test measures and prints
 *   detection   — kill → its Node's Ready condition is no longer True (target ≤ 10 s),
 *   replacement — kill → 10 pods Running and Ready again, none on the dead node (target ≤ 15 s),
 * asserting generous bounds (the machine is shared and noisy) and printing the real figures.
 * Then another agent is frozen with SIGSTOP for 3 s and thawed: its node must stay Ready throughout
 * and none of its pods may be evicted or replaced.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { startBerthAgent, type BerthProcess } from './harness/agent.js';
import { findKubectl, kubectl, startBerthServer, type BerthServerHandle } from './harness/berth-server.js';

const found = findKubectl();
const skip = found.skip;
if (skip !== undefined) console.log(`# skipping failover test: ${skip}`);

/** Targets with the default settings (issue #4). */
const detectionTargetS = 10;
const replacementTargetS = 15;
/** What the test asserts: the targets with room for a loaded, shared 2-core machine. */
const detectionBoundS = 30;
const replacementBoundS = 45;

interface PodItem {
  metadata: { name: string; uid: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}
interface NodeItem {
  metadata: { name: string };
  spec?: { taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

function readyOf(obj: { status?: { conditions?: { type: string; status: string }[] } }): string | undefined {
  return obj.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: failover
  namespace: default
spec:
  replicas: 10
  selector:
    matchLabels: { app: failover }
  template:
    metadata:
      labels: { app: failover }
    spec:
      containers:
        - name: app
          image: busybox:1.36
          resources:
            requests: { cpu: 10m, memory: 16Mi }
`;

describe('B5 failover', { skip, timeout: 420_000 }, () => {
  let server: BerthServerHandle | undefined;
  const agents = new Map<string, BerthProcess>();
  /** Agents killed by the test (destroyed in `after` all the same, for their data dirs). */
  const dead = new Set<string>();
  let http: Agent | undefined;

  const get = <T>(path: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const req = request(
        new URL(path, server!.url),
        {
          agent: http,
          headers: { authorization: `Bearer ${server!.token}`, accept: 'application/json' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${res.statusCode} ${text}`));
            else resolve(JSON.parse(text) as T);
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  const pods = async (): Promise<PodItem[]> =>
    (await get<{ items: PodItem[] }>('/api/v1/namespaces/default/pods?labelSelector=app%3Dfailover')).items;
  const nodes = async (): Promise<NodeItem[]> => (await get<{ items: NodeItem[] }>('/api/v1/nodes')).items;
  const runningReady = (p: PodItem): boolean =>
    p.metadata.deletionTimestamp === undefined && p.status?.phase === 'Running' && readyOf(p) === 'True';

  /** Polls `fn` every 100 ms until it returns a value; the elapsed ms since `from` is returned with it. */
  async function until<T>(
    what: string,
    from: number,
    timeoutMs: number,
    fn: () => Promise<T | undefined>,
  ): Promise<{ value: T; ms: number }> {
    let last: unknown;
    for (;;) {
      try {
        const value = await fn();
        if (value !== undefined) return { value, ms: Date.now() - from };
      } catch (err) {
        last = err;
      }
      if (Date.now() - from > timeoutMs) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    server = await startBerthServer();
    http = new Agent({ ca: server.caPem, keepAlive: true, maxSockets: 4 });
    for (const name of ['fo-a', 'fo-b', 'fo-c']) {
      agents.set(name, await startBerthAgent({ server, nodeName: name }));
    }
    await until('3 Ready nodes', Date.now(), 60_000, async () => {
      const ns = await nodes();
      return ns.filter((n) => readyOf(n) === 'True').length === 3 ? ns : undefined;
    });
    const applied = await kubectl(server, ['apply', '-f', '-'], {
      input: deployment,
      kubectlPath: found.path!,
    });
    assert.equal(applied.code, 0, applied.stderr);
  });

  after(async () => {
    http?.destroy();
    for (const a of agents.values()) await a.destroy();
    await server?.destroy();
  });

  it('runs all 10 replicas, spread over the three nodes', async () => {
    const { value } = await until('10 pods Running', Date.now(), 90_000, async () => {
      const ps = await pods();
      return ps.filter(runningReady).length === 10 ? ps : undefined;
    });
    const perNode = new Set(value.map((p) => p.spec.nodeName));
    assert.equal(perNode.size, 3, `pods on ${[...perNode].join(', ')}`);
  });

  it('kill -9 of an agent: the node goes NotReady and its pods are replaced elsewhere', async () => {
    const before = await pods();
    const counts = new Map<string, number>();
    for (const p of before) counts.set(p.spec.nodeName ?? '', (counts.get(p.spec.nodeName ?? '') ?? 0) + 1);
    const victim = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const onVictim = counts.get(victim) ?? 0;
    assert.ok(onVictim > 0);

    const killedAt = Date.now();
    agents.get(victim)!.signal('SIGKILL');

    const detection = await until(`${victim} Ready≠True`, killedAt, 120_000, async () => {
      const n = (await nodes()).find((x) => x.metadata.name === victim);
      return n !== undefined && readyOf(n) !== 'True' ? n : undefined;
    });
    const replacement = await until('10 pods Running elsewhere', killedAt, 180_000, async () => {
      const ps = await pods();
      const elsewhere = ps.filter((p) => p.spec.nodeName !== victim && runningReady(p));
      const stillThere = ps.filter(
        (p) => p.spec.nodeName === victim && p.metadata.deletionTimestamp === undefined,
      );
      return elsewhere.length === 10 && stillThere.length === 0 ? ps : undefined;
    });
    const d = detection.ms / 1000;
    const r = replacement.ms / 1000;
    console.log(
      `B5 failover (${onVictim} pods on ${victim}): detection ${d.toFixed(1)} s (target ≤ ${detectionTargetS} s), ` +
        `replacements Running ${r.toFixed(1)} s after the kill (target ≤ ${replacementTargetS} s)`,
    );
    assert.equal(readyOf(detection.value), 'Unknown', 'a silent node is Ready=Unknown');
    const taints = (await nodes()).find((n) => n.metadata.name === victim)?.spec?.taints ?? [];
    assert.ok(
      taints.some((t) => t.key === 'node.kubernetes.io/unreachable'),
      `taints: ${JSON.stringify(taints)}`,
    );
    assert.ok(d <= detectionBoundS, `detection took ${d.toFixed(1)} s`);
    assert.ok(r <= replacementBoundS, `replacement took ${r.toFixed(1)} s`);
    dead.add(victim);
  });

  it('SIGSTOP for 3 s then SIGCONT: the node stays Ready and none of its pods is evicted', async () => {
    const ps = await pods();
    const running = ps.filter(runningReady);
    const [frozen] = [...agents.keys()].filter(
      (n) => !dead.has(n) && running.some((p) => p.spec.nodeName === n),
    );
    assert.ok(frozen !== undefined, 'a live node with pods');
    const uidsBefore = new Set(running.filter((p) => p.spec.nodeName === frozen).map((p) => p.metadata.uid));
    const allBefore = new Set(running.map((p) => p.metadata.uid));
    const agent = agents.get(frozen)!;

    let notReadySeen: string | undefined;
    const stopAt = Date.now();
    agent.signal('SIGSTOP');
    // Watch through the freeze and past the grace period plus the default toleration (8 s + 4 s):
    // were the node marked NotReady, its pods would be evicted inside this window.
    const watchUntil = stopAt + 3000 + 14_000;
    let thawed = false;
    while (Date.now() < watchUntil) {
      if (!thawed && Date.now() - stopAt >= 3000) {
        agent.signal('SIGCONT');
        thawed = true;
      }
      const n = (await nodes()).find((x) => x.metadata.name === frozen);
      const ready = n === undefined ? 'missing' : readyOf(n);
      if (ready !== 'True')
        notReadySeen ??= `${ready ?? 'none'} at ${((Date.now() - stopAt) / 1000).toFixed(1)} s`;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(notReadySeen, undefined, `node ${frozen} went Ready≠True: ${notReadySeen}`);
    const after = await pods();
    const live = after.filter((p) => p.metadata.deletionTimestamp === undefined);
    assert.deepEqual(
      new Set(live.filter((p) => p.spec.nodeName === frozen).map((p) => p.metadata.uid)),
      uidsBefore,
      'the frozen node kept exactly its pods',
    );
    assert.deepEqual(new Set(live.map((p) => p.metadata.uid)), allBefore, 'no pod was replaced');
    assert.equal(after.filter(runningReady).length, 10);
    console.log(`B5 SIGSTOP 3 s on ${frozen}: node stayed Ready, ${uidsBefore.size} pods kept, none evicted`);
  });
});
