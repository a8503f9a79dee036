/**
 * `/metrics` of a real `berth server`: after a known set of requests the kube-apiserver series carry
 * kube-apiserver's labels and the right counts (request totals and durations by verb, scope, dry run
 * and code; in-flight peaks by request kind; open watches as long-running requests; stored objects),
 * and the endpoint itself needs the admin token.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import { startBerthServer, type BerthServerHandle } from './harness/berth-server.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text exposition format (the subset prom-client writes). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const raw = m[3] ?? '';
    samples.push({ name: m[1] ?? '', labels, value: raw === '+Inf' ? Infinity : Number(raw) });
  }
  return samples;
}

/** Samples of `name` whose labels include all of `labels`. */
function select(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The value of the one sample of `name` with exactly these labels (0 when absent). */
function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string>): number {
  const found = samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `several ${name} series match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

describe('apiserver metrics of berth server', () => {
  let server: BerthServerHandle;
  let agent: Agent;

  const call = (
    method: string,
    path: string,
    opts: { body?: unknown; contentType?: string; token?: string | null } = {},
  ): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      const token = opts.token === undefined ? server.token : opts.token;
      if (token !== null) headers['Authorization'] = `Bearer ${token}`;
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      if (body !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json';
      const req = request({ host: '127.0.0.1', port: server.port, path, method, headers, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
        });
      });
      req.on('error', reject);
      req.end(body);
    });

  const scrape = async (): Promise<Sample[]> => {
    const res = await call('GET', '/metrics');
    assert.equal(res.status, 200, res.body);
    return parseExposition(res.body);
  };

  const resourceLabels = (verb: string, scope: string, extra: Record<string, string> = {}) => ({
    verb,
    dry_run: '',
    group: '',
    version: 'v1',
    resource: 'configmaps',
    subresource: '',
    scope,
    component: 'apiserver',
    ...extra,
  });

  before(async () => {
    server = await startBerthServer();
    agent = new Agent({ ca: server.caPem, keepAlive: true });
  });
  after(async () => {
    agent.destroy();
    await server.destroy();
  });

  it('refuses /metrics without the admin token', async () => {
    const anonymous = await call('GET', '/metrics', { token: null });
    assert.equal(anonymous.status, 401);
    assert.equal((JSON.parse(anonymous.body) as { reason: string }).reason, 'Unauthorized');
    const wrong = await call('GET', '/metrics', { token: 'not-the-token' });
    assert.equal(wrong.status, 401);
  });

  it('counts and times requests with kube-apiserver labels', async () => {
    await scrape(); // resets the in-flight peaks
    const cm = (name: string, data: Record<string, string> = { a: '1' }) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name },
      data,
    });
    const ns = '/api/v1/namespaces/default/configmaps';
    const expect = async (status: number, p: Promise<Reply>): Promise<void> => {
      const res = await p;
      assert.equal(res.status, status, res.body);
    };
    await expect(200, call('GET', ns));
    await expect(200, call('GET', '/api/v1/configmaps'));
    await expect(201, call('POST', ns, { body: cm('m1') }));
    await expect(409, call('POST', ns, { body: cm('m1') }));
    await expect(201, call('POST', `${ns}?dryRun=All`, { body: cm('m2') }));
    await expect(200, call('GET', `${ns}/m1`));
    await expect(404, call('GET', `${ns}/nope`));
    await expect(200, call('PUT', `${ns}/m1`, { body: cm('m1', { a: '2' }) }));
    await expect(
      200,
      call('PATCH', `${ns}/m1`, { body: { data: { b: '3' } }, contentType: 'application/merge-patch+json' }),
    );
    await expect(
      201,
      call('PATCH', `${ns}/m3?fieldManager=metrics-test`, {
        body: cm('m3'),
        contentType: 'application/apply-patch+yaml',
      }),
    );
    await expect(200, call('DELETE', `${ns}/m3`));
    await expect(404, call('GET', '/apis/apps/v1/namespaces/default/deployments/none/scale'));
    await expect(200, call('GET', '/readyz'));

    const samples = await scrape();
    const total = (labels: Record<string, string>, code: string): number =>
      valueOf(samples, 'apiserver_request_total', { ...labels, code });
    assert.equal(total(resourceLabels('LIST', 'namespace'), '200'), 1);
    assert.equal(total(resourceLabels('LIST', 'cluster'), '200'), 1);
    assert.equal(total(resourceLabels('POST', 'resource'), '201'), 1, 'a create is scope "resource"');
    assert.equal(total(resourceLabels('POST', 'resource'), '409'), 1);
    assert.equal(total(resourceLabels('POST', 'resource', { dry_run: 'All' }), '201'), 1);
    assert.equal(total(resourceLabels('GET', 'resource'), '200'), 1);
    assert.equal(total(resourceLabels('GET', 'resource'), '404'), 1);
    assert.equal(total(resourceLabels('PUT', 'resource'), '200'), 1);
    assert.equal(total(resourceLabels('PATCH', 'resource'), '200'), 1);
    assert.equal(total(resourceLabels('APPLY', 'resource'), '201'), 1, 'an apply patch is APPLY');
    assert.equal(total(resourceLabels('DELETE', 'resource'), '200'), 1);
    assert.equal(
      total(
        resourceLabels('GET', 'resource', { group: 'apps', resource: 'deployments', subresource: 'scale' }),
        '404',
      ),
      1,
    );
    const readyz = {
      verb: 'GET',
      dry_run: '',
      group: '',
      version: '',
      resource: '',
      subresource: '/readyz',
      scope: '',
      component: '',
    };
    assert.ok(total(readyz, '200') >= 1, 'health checks are counted under their path, as in Kubernetes');

    // Every series has exactly kube-apiserver's label names.
    const requestLabelNames = [
      'code',
      'component',
      'dry_run',
      'group',
      'resource',
      'scope',
      'subresource',
      'verb',
      'version',
    ];
    for (const s of select(samples, 'apiserver_request_total')) {
      assert.deepEqual(Object.keys(s.labels).sort(), requestLabelNames, JSON.stringify(s.labels));
    }
    const verbs = new Set(select(samples, 'apiserver_request_total').map((s) => s.labels['verb']));
    for (const v of verbs) {
      assert.ok(
        ['GET', 'LIST', 'WATCH', 'POST', 'PUT', 'PATCH', 'APPLY', 'DELETE'].includes(v ?? ''),
        `verb ${v}`,
      );
    }

    // The histogram saw the same requests.
    const post = resourceLabels('POST', 'resource');
    assert.equal(valueOf(samples, 'apiserver_request_duration_seconds_count', post), 2);
    assert.equal(valueOf(samples, 'apiserver_request_duration_seconds_bucket', { ...post, le: '+Inf' }), 2);
    assert.ok(valueOf(samples, 'apiserver_request_duration_seconds_sum', post) > 0);
    assert.equal(
      select(samples, 'apiserver_request_duration_seconds_bucket', post).length,
      24,
      "kube-apiserver's 23 buckets plus +Inf",
    );

    // Requests were sequential: one of each kind at a time, and none is left running.
    assert.equal(valueOf(samples, 'apiserver_current_inflight_requests', { request_kind: 'readOnly' }), 1);
    assert.equal(valueOf(samples, 'apiserver_current_inflight_requests', { request_kind: 'mutating' }), 1);
    const later = await scrape();
    assert.equal(valueOf(later, 'apiserver_current_inflight_requests', { request_kind: 'readOnly' }), 0);
    assert.equal(valueOf(later, 'apiserver_current_inflight_requests', { request_kind: 'mutating' }), 0);

    // m1 is stored; m2 was a dry run and m3 was deleted. The four built-in namespaces exist.
    assert.equal(valueOf(later, 'apiserver_storage_objects', { resource: 'configmaps' }), 1);
    assert.equal(valueOf(later, 'apiserver_storage_objects', { resource: 'namespaces' }), 4);
    assert.equal(valueOf(later, 'apiserver_storage_objects', { resource: 'deployments.apps' }), 0);
  });

  it('shows an open watch as a long-running request, not in flight', async () => {
    await scrape();
    const watchLabels = { ...resourceLabels('WATCH', 'namespace') } as Record<string, string>;
    delete watchLabels['dry_run'];
    const controller = new AbortController();
    const opened = new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: server.port,
          path: '/api/v1/namespaces/default/configmaps?watch=true',
          headers: { Authorization: `Bearer ${server.token}` },
          ca: server.caPem,
          signal: controller.signal,
        },
        (res) => {
          assert.equal(res.statusCode, 200);
          res.on('data', () => undefined);
          res.on('error', () => undefined);
          resolve();
        },
      );
      req.on('error', (err) => {
        if (!controller.signal.aborted) reject(err);
      });
      req.end();
    });
    try {
      await opened;
      const during = await scrape();
      assert.equal(valueOf(during, 'apiserver_longrunning_requests', watchLabels), 1);
      assert.equal(valueOf(during, 'apiserver_current_inflight_requests', { request_kind: 'readOnly' }), 0);
    } finally {
      controller.abort();
    }
    const deadline = Date.now() + 10_000;
    for (;;) {
      const samples = await scrape();
      const open = valueOf(samples, 'apiserver_longrunning_requests', watchLabels);
      const done = valueOf(samples, 'apiserver_request_total', {
        ...resourceLabels('WATCH', 'namespace'),
        code: '200',
      });
      if (open === 0 && done === 1) break;
      if (Date.now() > deadline)
        assert.fail(`watch still counted as open (${open}) or not finished (${done})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
