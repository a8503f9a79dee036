/**
 * The watch cache behind a real `berth server` (in-process, HTTPS on a free port): client-node's Watch
 * doing a watch-list (sendInitialEvents → initial ADDED, then the initial-events-end BOOKMARK), periodic
 * bookmarks, LISTs served from memory agreeing with the store path (JSON, Table, paging), and a
 * stalled raw-HTTPS watcher that is terminated without delaying a watcher that keeps up.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { silentLogger } from '../lib/logger.js';
import { startServer, type RunningServer } from '../controller/server.js';
import { freePort } from './harness/ports.js';

async function eventually(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface WatchLine {
  type: string;
  object: {
    kind?: string;
    metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
  };
}

describe('watch cache behind berth server', () => {
  let dir: string;
  let server: RunningServer;
  let agent: Agent;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-watch-'));
    server = await startServer({
      dataDir: dir,
      listenHost: '127.0.0.1',
      listenPort: await freePort(),
      store: 'sqlite',
      logger: silentLogger(),
      watchCache: { bookmarkIntervalMs: 300, watcherBufferSize: 20, terminateGraceMs: 1000 },
    });
    agent = new Agent({ ca: server.caCertPem, keepAlive: true });
  });
  after(async () => {
    agent.destroy();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const kubeConfig = (): k8s.KubeConfig => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    return kc;
  };

  /** One HTTPS request; the body as text. */
  const call = (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const url = new URL(path, server.url);
      const req = request(
        url,
        {
          method,
          agent,
          headers: {
            authorization: `Bearer ${server.adminToken}`,
            'content-type': 'application/json',
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });

  const createConfigMap = async (
    ns: string,
    name: string,
    data: Record<string, string> = {},
  ): Promise<void> => {
    const res = await call('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name }, data });
    assert.equal(res.status, 201, res.text);
  };

  it('serves a watch-list to client-node: initial ADDED, the initial-events-end BOOKMARK, then changes', async () => {
    await createConfigMap('default', 'wl-a');
    await createConfigMap('default', 'wl-b');
    const events: WatchLine[] = [];
    const req = await new k8s.Watch(kubeConfig()).watch(
      '/api/v1/namespaces/default/configmaps',
      {
        sendInitialEvents: true,
        resourceVersionMatch: 'NotOlderThan',
        allowWatchBookmarks: true,
        labelSelector: '',
      },
      (type, object: WatchLine['object']) => events.push({ type, object }),
      () => undefined,
    );
    try {
      await eventually('the initial-events-end bookmark', () => events.some((e) => e.type === 'BOOKMARK'));
      const endIndex = events.findIndex((e) => e.type === 'BOOKMARK');
      const initial = events.slice(0, endIndex).map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`);
      assert.deepEqual(initial, ['ADDED wl-a', 'ADDED wl-b']);
      const end = events[endIndex];
      assert.ok(end);
      assert.equal(end.object.kind, 'ConfigMap');
      assert.equal(end.object.metadata?.annotations?.['k8s.io/initial-events-end'], 'true');
      await createConfigMap('default', 'wl-c');
      await eventually('the live ADDED', () =>
        events.some((e, i) => i > endIndex && e.type === 'ADDED' && e.object.metadata?.name === 'wl-c'),
      );
      const rv = Number(end.object.metadata.resourceVersion);
      const live = events.find((e) => e.object.metadata?.name === 'wl-c');
      assert.ok(Number(live?.object.metadata?.resourceVersion) > rv, 'live events come after the bookmark');
    } finally {
      req.abort();
    }
  });

  it('rejects sendInitialEvents without resourceVersionMatch with 422', async () => {
    const res = await call('GET', '/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true');
    assert.equal(res.status, 422);
    assert.match(res.text, /sendInitialEvents requires setting resourceVersionMatch to NotOlderThan/);
  });

  it('sends periodic BOOKMARKs to watchers that allow them', async () => {
    const list = JSON.parse((await call('GET', '/api/v1/namespaces/default/configmaps')).text) as {
      metadata: { resourceVersion: string };
    };
    const events: WatchLine[] = [];
    const req = await new k8s.Watch(kubeConfig()).watch(
      '/api/v1/namespaces/default/configmaps',
      { allowWatchBookmarks: true, resourceVersion: list.metadata.resourceVersion },
      (type, object: WatchLine['object']) => events.push({ type, object }),
      () => undefined,
    );
    try {
      // A write to another resource moves the revision on; the bookmark tells this watcher.
      await createConfigMap('kube-system', 'elsewhere');
      const res = await call('POST', '/api/v1/namespaces/default/services', {
        metadata: { name: 'svc' },
        spec: { ports: [{ port: 80 }] },
      });
      assert.equal(res.status, 201, res.text);
      const svcRv = Number(
        (JSON.parse(res.text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion,
      );
      await eventually('a bookmark at the service revision', () =>
        events.some((e) => e.type === 'BOOKMARK' && Number(e.object.metadata?.resourceVersion) >= svcRv),
      );
      assert.ok(!events.some((e) => e.type !== 'BOOKMARK'), 'no object events for this namespace');
    } finally {
      req.abort();
    }
  });

  const createNamespace = async (name: string): Promise<void> => {
    const res = await call('POST', '/api/v1/namespaces', { metadata: { name } });
    assert.equal(res.status, 201, res.text);
  };

  it('answers LISTs from memory as the store would: JSON, resourceVersion=0, Table and paging', async () => {
    await createNamespace('paged');
    for (let i = 0; i < 5; i++) await createConfigMap('paged', `cm-${i}`, { i: String(i) });
    const plain = JSON.parse((await call('GET', '/api/v1/namespaces/paged/configmaps')).text) as {
      kind: string;
      metadata: { resourceVersion: string };
      items: { metadata: { name: string; resourceVersion: string } }[];
    };
    assert.equal(plain.kind, 'ConfigMapList');
    assert.deepEqual(
      plain.items.map((i) => i.metadata.name),
      ['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4'],
    );
    const anyRv = JSON.parse(
      (await call('GET', '/api/v1/namespaces/paged/configmaps?resourceVersion=0')).text,
    ) as typeof plain;
    assert.deepEqual(anyRv.items, plain.items);
    const table = JSON.parse(
      (
        await call('GET', '/api/v1/namespaces/paged/configmaps', undefined, {
          accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
        })
      ).text,
    ) as { kind: string; rows: unknown[]; metadata: { resourceVersion: string } };
    assert.equal(table.kind, 'Table');
    assert.equal(table.rows.length, 5);
    // A limit below what matches is paged by the store, consistently.
    const page1 = JSON.parse(
      (await call('GET', '/api/v1/namespaces/paged/configmaps?limit=2')).text,
    ) as typeof plain & {
      metadata: { continue?: string };
    };
    assert.equal(page1.items.length, 2);
    assert.ok(page1.metadata.continue);
    const page2 = JSON.parse(
      (
        await call(
          'GET',
          `/api/v1/namespaces/paged/configmaps?limit=10&continue=${encodeURIComponent(page1.metadata.continue)}`,
        )
      ).text,
    ) as typeof plain;
    assert.deepEqual(
      page2.items.map((i) => i.metadata.name),
      ['cm-2', 'cm-3', 'cm-4'],
    );
  });

  it('terminates a stalled watcher while a watcher that reads keeps receiving everything', async () => {
    const ns = 'stall';
    await createNamespace(ns);
    const path = `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=0`;
    const open = (onResponse: (res: IncomingMessage) => void): ReturnType<typeof request> => {
      const req = request(new URL(path, server.url), {
        agent: false,
        ca: server.caCertPem,
        headers: { authorization: `Bearer ${server.adminToken}` },
      });
      req.on('response', onResponse);
      req.on('error', () => undefined);
      req.end();
      return req;
    };
    let stalledEnded = false;
    let stalledRes: IncomingMessage | undefined;
    const stalled = open((res) => {
      stalledRes = res;
      res.pause(); // never reads: the server's writes back up into its per-watcher queue
      res.on('close', () => (stalledEnded = true));
      res.on('error', () => (stalledEnded = true));
    });
    const received: string[] = [];
    let buffered = '';
    const reader = open((res) => {
      res.on('data', (c: Buffer) => {
        buffered += c.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = JSON.parse(buffered.slice(0, nl)) as WatchLine;
          buffered = buffered.slice(nl + 1);
          received.push(line.object.metadata?.name ?? '');
        }
      });
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      // ~25 MB of events: far more than the socket buffers between the server and the stalled client.
      const big = 'x'.repeat(250_000);
      const names: string[] = [];
      for (let i = 0; i < 100; i++) {
        names.push(`big-${i}`);
        await createConfigMap(ns, `big-${i}`, { big });
      }
      await eventually('every event at the reading watcher', () => received.length >= names.length, 30_000);
      assert.deepEqual(received, names);
      let metrics = '';
      const terminated = /apiserver_terminated_watchers_total\{resource="configmaps"\} [1-9]/;
      for (let i = 0; i < 100 && !terminated.test(metrics); i++) {
        metrics = (await call('GET', '/metrics')).text;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(metrics, terminated);
      // Reading again, the client finds its stream ended (or cut): it would re-watch from its last event.
      stalledRes?.resume();
      await eventually('the stalled stream to end', () => stalledEnded, 15_000);
    } finally {
      stalled.destroy();
      reader.destroy();
    }
  });
});
