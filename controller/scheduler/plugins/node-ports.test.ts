import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CycleState } from '../cycle-state.js';
import { podInfoOf } from '../pod-info.js';
import { clusterOf, makeNode, makePod } from '../testing/fixtures.js';
import type { ContainerLike } from '../types.js';
import { NodePorts } from './node-ports.js';

const plugin = new NodePorts();
const withPort = (hostPort: number, hostIP?: string, protocol?: string): ContainerLike => ({
  name: 'c',
  ports: [{ containerPort: 80, hostPort, ...(hostIP ? { hostIP } : {}), ...(protocol ? { protocol } : {}) }],
});

function conflicts(existing: ContainerLike, incoming: ContainerLike): boolean {
  const cache = clusterOf([makeNode('n')], [[makePod('e', { containers: [existing] }), 'n']]);
  const pod = podInfoOf(makePod('p', { containers: [incoming] }));
  return plugin.filter(new CycleState(), pod, cache.get('n')!) !== undefined;
}

describe('NodePorts', () => {
  it('rejects the same protocol and port on any address', () => {
    assert.equal(conflicts(withPort(8080), withPort(8080)), true);
    assert.equal(conflicts(withPort(8080, '10.0.0.1'), withPort(8080)), true, '0.0.0.0 overlaps every IP');
    assert.equal(conflicts(withPort(8080), withPort(8080, '10.0.0.1')), true);
    assert.equal(conflicts(withPort(8080, '10.0.0.1'), withPort(8080, '10.0.0.1')), true);
  });

  it('allows different ports, protocols or specific addresses', () => {
    assert.equal(conflicts(withPort(8080), withPort(8081)), false);
    assert.equal(conflicts(withPort(53, undefined, 'UDP'), withPort(53, undefined, 'TCP')), false);
    assert.equal(conflicts(withPort(8080, '10.0.0.1'), withPort(8080, '10.0.0.2')), false);
  });

  it("gives kube's reason and skips pods without host ports", () => {
    const cache = clusterOf([makeNode('n')], [[makePod('e', { hostPort: 80 }), 'n']]);
    const st = plugin.filter(new CycleState(), podInfoOf(makePod('p', { hostPort: 80 })), cache.get('n')!);
    assert.deepEqual(st?.reasons, ["node(s) didn't have free ports for the requested pod ports"]);
    assert.equal(plugin.preFilter(new CycleState(), podInfoOf(makePod('q'))), 'skip');
  });

  it('frees the port when the pod is removed', () => {
    const cache = clusterOf([makeNode('n')], [[makePod('e', { hostPort: 80 }), 'n']]);
    cache.removePod(podInfoOf(makePod('e')).key);
    assert.equal(
      plugin.filter(new CycleState(), podInfoOf(makePod('p', { hostPort: 80 })), cache.get('n')!),
      undefined,
    );
  });
});
