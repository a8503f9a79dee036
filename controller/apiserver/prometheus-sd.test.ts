import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredObject } from '../../api/object.js';
import { prometheusSdTargets, sanitize } from './prometheus-sd.js';

function node(
  name: string,
  opts: { address?: string; labels?: Record<string, string>; ready?: string },
): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      ...(opts.labels === undefined ? {} : { labels: opts.labels }),
      ...(opts.address === undefined
        ? {}
        : { annotations: { 'node.berth.io/metrics-address': opts.address } }),
    },
    ...(opts.ready === undefined ? {} : { status: { conditions: [{ type: 'Ready', status: opts.ready }] } }),
  };
}

describe('prometheusSdTargets', () => {
  it('lists the controller first, then every node with a metrics address, in name order', () => {
    const groups = prometheusSdTargets(
      [
        node('n2', { address: '10.0.0.2:10255', ready: 'Unknown' }),
        node('no-metrics', {}),
        node('n1', {
          address: '10.0.0.1:10255',
          ready: 'True',
          labels: { 'topology.kubernetes.io/zone': 'zone-1', 'kubernetes.io/hostname': 'n1' },
        }),
      ],
      '127.0.0.1:6443',
    );
    assert.deepEqual(
      groups.map((g) => g.targets),
      [['127.0.0.1:6443'], ['10.0.0.1:10255'], ['10.0.0.2:10255']],
    );
    assert.deepEqual(groups[0]?.labels, {
      __scheme__: 'https',
      __meta_berth_role: 'controller',
      role: 'controller',
    });
    assert.deepEqual(groups[1]?.labels, {
      __scheme__: 'http',
      __meta_berth_role: 'node',
      __meta_berth_node: 'n1',
      __meta_berth_node_ready: 'true',
      __meta_berth_node_label_topology_kubernetes_io_zone: 'zone-1',
      __meta_berth_node_label_kubernetes_io_hostname: 'n1',
      role: 'node',
      node: 'n1',
      zone: 'zone-1',
    });
    const third = groups[2];
    assert.ok(third);
    assert.equal(third.labels['__meta_berth_node_ready'], 'unknown');
    assert.equal(third.labels['zone'], undefined);
  });

  it('leaves the controller out when the request named no address', () => {
    assert.deepEqual(prometheusSdTargets([], undefined), []);
  });

  it('sanitizes label keys as kubernetes_sd does', () => {
    assert.equal(sanitize('app.kubernetes.io/name'), 'app_kubernetes_io_name');
  });
});
