/**
 * `berth hollow` end to end: a real `berth server` and one `berth hollow --count 12 --zones 3`
 * process. Every hollow agent joins with the node token and registers a Ready Node with the fake host
 * facts and its zone label; a Deployment is spread over them and reported Running by their pod
 * workers (fake runtime), with pod IPs from each node's own range; a restarted hollow process reuses
 * its identities (no second join) and the nodes stay Ready.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHollow, type BerthProcess } from './harness/agent.js';
import { startBerthServer, type BerthServerHandle } from './harness/berth-server.js';

interface Obj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    capacity?: Record<string, string>;
    nodeInfo?: { containerRuntimeVersion?: string; osImage?: string };
    conditions?: { type: string; status: string }[];
  };
}

function call(
  server: BerthServerHandle,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, server.url),
      {
        method,
        ca: server.caPem,
        headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, json: text === '' ? undefined : JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function list(server: BerthServerHandle, path: string): Promise<Obj[]> {
  const r = await call(server, 'GET', path);
  assert.equal(r.status, 200);
  return (r.json as { items: Obj[] }).items;
}

const ready = (o: Obj): boolean =>
  o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('berth hollow', { timeout: 300_000 }, () => {
  let server: BerthServerHandle | undefined;
  let hollow: BerthProcess | undefined;
  const count = 12;
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-hollow-test-'));

  before(async () => {
    server = await startBerthServer({ args: ['--log-level', 'warn'] });
    hollow = await startHollow({
      server,
      count,
      dataDir,
      extraArgs: ['--zones', '3', '--name-prefix', 'hn-'],
    });
  });

  after(async () => {
    await hollow?.destroy();
    await server?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers N Ready nodes with the fake host facts and zone labels', async () => {
    const nodes = await eventually(`${count} Ready nodes`, async () => {
      const ns = await list(server!, '/api/v1/nodes');
      return ns.filter(ready).length === count ? ns : undefined;
    });
    assert.deepEqual(
      nodes.map((n) => n.metadata.name).sort(),
      Array.from({ length: count }, (_, i) => `hn-${i}`).sort(),
    );
    const n5 = nodes.find((n) => n.metadata.name === 'hn-5');
    assert.ok(n5);
    assert.equal(n5.metadata.labels?.['topology.kubernetes.io/zone'], 'zone-2');
    const status = n5.status ?? {};
    assert.equal(status.capacity?.['cpu'], '8');
    assert.equal(status.capacity['pods'], '110');
    assert.equal(status.nodeInfo?.osImage, 'Berth hollow node (simulated)');
    assert.match(status.nodeInfo.containerRuntimeVersion ?? '', /^fake:\/\//);
    // No metrics unless asked for: no address to discover.
    assert.equal(n5.metadata.annotations?.['node.berth.io/metrics-address'], undefined);
  });

  it('runs a Deployment spread over the hollow nodes, each pod with an IP from its node range', async () => {
    const created = await call(server!, 'POST', '/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'spread' },
      spec: {
        replicas: 24,
        selector: { matchLabels: { app: 'spread' } },
        template: {
          metadata: { labels: { app: 'spread' } },
          spec: {
            containers: [{ name: 'app', image: 'busybox:1.36', resources: { requests: { cpu: '100m' } } }],
          },
        },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const pods = await eventually('24 pods Running', async () => {
      const ps = await list(server!, '/api/v1/namespaces/default/pods?labelSelector=app%3Dspread');
      return ps.filter((p) => p.status?.phase === 'Running').length === 24 ? ps : undefined;
    });
    const nodesUsed = new Set(pods.map((p) => p.spec?.nodeName));
    assert.ok(nodesUsed.size >= 6, `pods on only ${nodesUsed.size} nodes`);
    for (const p of pods) {
      const index = Number((p.spec?.nodeName ?? '').slice('hn-'.length));
      assert.ok(
        p.status?.podIP?.startsWith(`10.128.${index}.`),
        `${p.metadata.name} on hn-${index}: ${p.status?.podIP}`,
      );
    }
  });

  it('restarts with the same identities: no new join, nodes Ready again', async () => {
    const joinsBefore = await joins(server!);
    await hollow!.stop();
    hollow = await startHollow({
      server: server!,
      count,
      dataDir,
      extraArgs: ['--zones', '3', '--name-prefix', 'hn-'],
    });
    await eventually(`${count} Ready nodes`, async () => {
      const ns = await list(server!, '/api/v1/nodes');
      return ns.filter(ready).length === count ? ns : undefined;
    });
    assert.equal(await joins(server!), joinsBefore, 'the restarted agents joined again');
  });
});

/** `berth_agent_gateway_joins_total{result="ok"}` from the controller's /metrics. */
async function joins(server: BerthServerHandle): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      new URL('/metrics', server.url),
      { ca: server.caPem, headers: { authorization: `Bearer ${server.token}` } },
      (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (t += c));
        res.on('end', () => {
          resolve(t);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
  return Number(/^berth_agent_gateway_joins_total\{result="ok"\} (\d+)/m.exec(text)?.[1] ?? 'NaN');
}
