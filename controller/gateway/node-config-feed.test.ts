import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { realClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { defaultAdmission } from '../apiserver/admission.js';
import { ResourceStorage } from '../apiserver/resource-storage.js';
import { openSqliteStore, type SqliteStore } from '../store/sqlite-store.js';
import { NodeConfigFeed } from './node-config-feed.js';

const nodesR = findResource('', 'v1', 'nodes') as ResourceInfo;

describe('NodeConfigFeed', () => {
  let store: SqliteStore;
  let storage: ResourceStorage;
  let feed: NodeConfigFeed | undefined;
  const changes: [string, string][] = [];

  beforeEach(() => {
    store = openSqliteStore({ path: ':memory:', logger: silentLogger() });
    storage = new ResourceStorage({ store, clock: realClock, admission: defaultAdmission });
    changes.length = 0;
  });
  afterEach(async () => {
    await feed?.close();
    await store.close();
  });

  const node = (name: string, podCIDR?: string): Promise<unknown> =>
    storage.create(nodesR, undefined, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name },
      spec: podCIDR === undefined ? {} : { podCIDR },
    });

  async function until(cond: () => boolean): Promise<void> {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(cond(), `condition not met; changes: ${JSON.stringify(changes)}`);
  }

  it('knows existing CIDRs, reports changes, and stays quiet for other edits', async () => {
    await node('a', '10.42.0.0/24');
    await node('b');
    feed = new NodeConfigFeed({
      store,
      clock: realClock,
      logger: silentLogger(),
      clusterCidr: '10.42.0.0/16',
      onChange: (name, cfg) => changes.push([name, cfg.podCidr]),
    });
    await feed.start();
    assert.deepEqual(feed.configOf('a'), { podCidr: '10.42.0.0/24', clusterCidr: '10.42.0.0/16' });
    assert.deepEqual(feed.configOf('b'), { podCidr: '', clusterCidr: '10.42.0.0/16' });
    assert.deepEqual(feed.configOf('unknown'), { podCidr: '', clusterCidr: '10.42.0.0/16' });

    await storage.update(nodesR, undefined, 'b', (cur) => ({ ...cur, spec: { podCIDR: '10.42.1.0/24' } }));
    await until(() => changes.length === 1);
    assert.deepEqual(changes, [['b', '10.42.1.0/24']]);
    assert.equal(feed.configOf('b').podCidr, '10.42.1.0/24');

    // A label change keeps the CIDR: no news.
    await storage.update(nodesR, undefined, 'a', (cur) => ({
      ...cur,
      metadata: { ...cur.metadata, labels: { x: 'y' } },
    }));
    await node('c', '10.42.2.0/24');
    await until(() => changes.length === 2);
    assert.deepEqual(changes[1], ['c', '10.42.2.0/24']);
  });
});
