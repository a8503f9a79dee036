/**
 * Prometheus HTTP service discovery end to end: a real `berth server --with-agent` (the all-in-one
 * node) plus one real `berth agent --runtime fake`, and a real Prometheus whose only scrape job is an
 * `http_sd_configs` entry pointing at the controller (bearer token, the cluster CA). Prometheus must
 * discover and scrape all three — the controller over HTTPS, both agents over HTTP — with `node` and
 * `zone` labels, see `kubelet_running_pods` of pods running on each node, and see a stopped agent
 * go `up == 0` while it stays listed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { startBerthAgent, type BerthProcess } from './harness/agent.js';
import { startBerthServer, type BerthServerHandle } from './harness/berth-server.js';
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from './harness/prometheus.js';

const skip = prometheusAvailable();
if (skip !== undefined) console.log(`# skipping Prometheus SD tests: ${skip}`);

function api(
  server: BerthServerHandle,
  method: string,
  path: string,
  body?: unknown,
  auth: 'admin' | 'none' = 'admin',
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, server.url),
      {
        method,
        ca: server.caPem,
        headers: {
          ...(auth === 'none' ? {} : { authorization: `Bearer ${server.token}` }),
          'content-type': 'application/json',
          accept: 'application/json',
        },
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

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${last === undefined ? '' : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function pinnedPod(name: string, nodeName: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'app', image: 'busybox:1.36' }] },
  };
}

describe('Prometheus HTTP service discovery', { skip, timeout: 240_000 }, () => {
  let server: BerthServerHandle | undefined;
  let agent: BerthProcess | undefined;
  let prom: PrometheusHandle | undefined;

  before(async () => {
    server = await startBerthServer({
      args: ['--with-agent', '--node-name', 'sd-local', '--agent-metrics-listen', '127.0.0.1:0'],
    });
    agent = await startBerthAgent({
      server,
      nodeName: 'sd-agent',
      labels: { 'topology.kubernetes.io/zone': 'zone-a' },
    });
    const sdUrl = `${server.url}/berth/v1/prometheus-sd`;
    prom = await startPrometheus({
      files: { token: server.token, 'ca.crt': server.caPem },
      config: `
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: berth
    authorization:
      credentials_file: $DIR/token
    tls_config:
      ca_file: $DIR/ca.crt
    http_sd_configs:
      - url: ${sdUrl}
        refresh_interval: 1s
        # http_sd does not default the type to Bearer (prometheus/docs#2377): say it.
        authorization:
          type: Bearer
          credentials_file: $DIR/token
        tls_config:
          ca_file: $DIR/ca.crt
`,
    });
  });

  after(async () => {
    await prom?.stop();
    await agent?.destroy();
    await server?.destroy();
  });

  it('refuses the target list without the bearer token', async () => {
    const reply = await api(server!, 'GET', '/berth/v1/prometheus-sd', undefined, 'none');
    assert.equal(reply.status, 401);
  });

  it('discovers and scrapes the controller and both agents (up == 1), with node and zone labels', async () => {
    const up = await eventually('three targets up', async () => {
      const samples = await prom!.query('up{job="berth"}');
      if (samples.length === 3 && samples.every((s) => s.value[1] === '1')) return samples;
      throw new Error(JSON.stringify(await prom!.targets()));
    });
    const byRole = (role: string, node?: string) =>
      up.filter((s) => s.metric['role'] === role && (node === undefined || s.metric['node'] === node));
    assert.equal(byRole('controller').length, 1, JSON.stringify(up));
    assert.equal(byRole('node', 'sd-local').length, 1, JSON.stringify(up));
    const remote = byRole('node', 'sd-agent');
    assert.equal(remote.length, 1, JSON.stringify(up));
    assert.equal(remote[0]?.metric['zone'], 'zone-a');
    const targets = await prom!.targets();
    const controller = targets.find((t) => t.labels['role'] === 'controller');
    assert.match(controller?.scrapeUrl ?? '', /^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.ok(
      targets.filter((t) => t.labels['role'] === 'node').every((t) => t.scrapeUrl.startsWith('http://')),
      JSON.stringify(targets),
    );
    // The controller's own series arrive through the same job.
    const apiRequests = await eventually('apiserver_request_total', async () => {
      const s = await prom!.query('sum(apiserver_request_total{role="controller"})');
      return s.length === 1 ? s : undefined;
    });
    assert.ok(Number(apiRequests[0]?.value[1]) > 0);
  });

  it("serves each agent's kubelet_* metrics: kubelet_running_pods counts the pods running there", async () => {
    for (const [name, node] of [
      ['sd-pod-local', 'sd-local'],
      ['sd-pod-remote', 'sd-agent'],
    ] as const) {
      const created = await api(server!, 'POST', '/api/v1/namespaces/default/pods', pinnedPod(name, node));
      assert.equal(created.status, 201, JSON.stringify(created.json));
    }
    for (const node of ['sd-local', 'sd-agent']) {
      await eventually(`kubelet_running_pods{node="${node}"} == 1`, async () => {
        const s = await prom!.query(`kubelet_running_pods{job="berth",node="${node}"}`);
        return s.length === 1 && s[0]?.value[1] === '1' ? s : undefined;
      });
    }
  });

  it('keeps listing a node whose agent stopped, so Prometheus shows it down', async () => {
    await agent!.stop();
    await eventually('up{node="sd-agent"} == 0', async () => {
      const s = await prom!.query('up{job="berth",node="sd-agent"}');
      return s.length === 1 && s[0]?.value[1] === '0' ? s : undefined;
    });
    const others = await prom!.query('up{job="berth",node!="sd-agent"}');
    assert.deepEqual(
      others.map((s) => s.value[1]),
      ['1', '1'],
    );
  });
});
