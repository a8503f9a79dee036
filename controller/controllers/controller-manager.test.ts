import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Controller, ControllerContext, ControllerDescriptor } from './controller-manager.js';
import { requireResource } from './informer-factory.js';
import { keyOf } from './informer.js';
import { runWorkers } from './work-queue.js';
import { eventually, startControllerFixture } from './testing/controller-fixture.js';

const configmaps = requireResource('', 'v1', 'configmaps');

describe('ControllerManager', () => {
  it('runs controllers only after their informers synced, exports queue metrics, and stops on close', async () => {
    const reconciled: string[] = [];
    let sizeAtRun = -1;
    let stopped = false;
    const descriptor: ControllerDescriptor = {
      name: 'demo-controller',
      create: (ctx: ControllerContext): Controller => {
        const informer = ctx.informers.informerFor(configmaps);
        const queue = ctx.newQueue();
        informer.addEventHandler({
          onAdd: (o) => {
            queue.add(keyOf(o));
          },
        });
        return {
          name: 'demo-controller',
          run: async (signal) => {
            sizeAtRun = informer.size;
            await runWorkers(
              queue,
              (key) => {
                reconciled.push(key);
                return Promise.resolve();
              },
              { signal, logger: ctx.logger },
            );
            stopped = true;
          },
        };
      },
    };
    const f = await startControllerFixture({
      controllers: [descriptor],
      before: async (storage) => {
        for (const name of ['a', 'b', 'c']) {
          await storage.create(configmaps, 'default', {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name },
          });
        }
      },
    });
    try {
      assert.equal(sizeAtRun, 3, 'run starts with a complete cache');
      await eventually('initial objects reconciled', () => reconciled.length === 3);
      await f.storage.create(configmaps, 'default', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'd' },
      });
      await eventually('new object reconciled', () => reconciled.includes('default/d'));
      const text = await f.metrics.metrics();
      assert.match(text, /^workqueue_adds_total\{name="demo-controller"\} 4$/m);
      assert.match(text, /^workqueue_depth\{name="demo-controller"\} 0$/m);
    } finally {
      await f.close();
    }
    assert.equal(stopped, true, 'close waits for the controller to return');
  });

  it('restarts a controller whose run fails', async () => {
    let runs = 0;
    const descriptor: ControllerDescriptor = {
      name: 'flaky',
      create: () => ({
        name: 'flaky',
        run: async (signal) => {
          runs++;
          if (runs === 1) throw new Error('first run fails');
          await new Promise<void>((resolve) => {
            signal.addEventListener('abort', () => {
              resolve();
            });
          });
        },
      }),
    };
    const f = await startControllerFixture({ controllers: [descriptor] });
    try {
      await eventually('restarted', () => runs === 2, 5000);
    } finally {
      await f.close();
    }
  });
});
