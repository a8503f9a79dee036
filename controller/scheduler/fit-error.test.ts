import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Diagnosis, fitErrorMessage } from './fit-error.js';

describe('fitErrorMessage', () => {
  it('counts reasons and sorts the "count reason" strings', () => {
    const d = new Diagnosis();
    d.add('Insufficient cpu');
    d.add('node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }');
    d.add('Insufficient cpu');
    assert.equal(
      fitErrorMessage(3, d),
      '0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.',
    );
  });

  it('sorts as strings, so 10 comes before 2 (as Go does)', () => {
    const d = new Diagnosis();
    d.add('Insufficient memory', 10);
    d.add('Insufficient cpu', 2);
    assert.equal(
      fitErrorMessage(12, d),
      '0/12 nodes are available: 10 Insufficient memory, 2 Insufficient cpu.',
    );
  });

  it('uses the PreFilter message alone when PreFilter rejected the pod', () => {
    const d = new Diagnosis();
    d.add('ignored');
    d.preFilterMessage = "node(s) didn't satisfy plugin NodeAffinity";
    assert.equal(
      fitErrorMessage(5, d),
      "0/5 nodes are available: node(s) didn't satisfy plugin NodeAffinity.",
    );
  });
});
