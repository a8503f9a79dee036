import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateTable, wantsTable } from './accept.js';

describe('wantsTable', () => {
  it('recognises what kubectl get sends', () => {
    const kubectl =
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    assert.equal(wantsTable(kubectl), true);
    assert.equal(negotiateTable(kubectl), 'v1');
    assert.equal(
      negotiateTable('application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json'),
      'v1beta1',
    );
  });

  it('is false for plain JSON, protobuf-first or wildcard requests', () => {
    for (const accept of [
      'application/json',
      'application/json, */*',
      '*/*',
      undefined,
      'application/vnd.kubernetes.protobuf,application/json',
      'application/json,application/json;as=Table;v=v1;g=meta.k8s.io',
      'application/json;as=Table;v=v2;g=meta.k8s.io',
      'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io',
    ]) {
      assert.equal(wantsTable(accept), false, String(accept));
    }
  });

  it('skips unknown Table versions and takes the next acceptable one', () => {
    assert.equal(
      negotiateTable(
        'application/json;as=Table;v=v9;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io',
      ),
      'v1',
    );
  });
});
