import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { discoveryResponse, negotiateDiscovery } from './negotiate.js';
import { parseAccept } from './media-type.js';

const kubectlAccept =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

describe('negotiateDiscovery', () => {
  it('gives kubectl 1.32 aggregated v2', () => {
    assert.deepEqual(negotiateDiscovery(kubectlAccept), {
      form: 'aggregated',
      version: 'v2',
      contentType: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    });
  });

  it('falls to v2beta1 when only that is offered', () => {
    const f = negotiateDiscovery(
      'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json',
    );
    assert.deepEqual(f, {
      form: 'aggregated',
      version: 'v2beta1',
      contentType: 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList',
    });
  });

  it('gives legacy JSON to plain clients', () => {
    for (const accept of [
      'application/json',
      'application/json, */*',
      '*/*',
      undefined,
      '',
      'application/*',
    ]) {
      assert.deepEqual(
        negotiateDiscovery(accept),
        { form: 'legacy', contentType: 'application/json' },
        String(accept),
      );
    }
  });

  it('honours q and skips unknown versions and other "as" kinds', () => {
    assert.equal(
      negotiateDiscovery(
        'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,application/json;q=0.9',
      )?.form,
      'legacy',
    );
    assert.equal(
      negotiateDiscovery(
        'application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json',
      )?.form,
      'legacy',
    );
    assert.equal(negotiateDiscovery('application/json;as=Table;v=v1;g=meta.k8s.io'), undefined);
    assert.equal(negotiateDiscovery('application/vnd.kubernetes.protobuf'), undefined);
    assert.equal(negotiateDiscovery('application/json;q=0'), undefined);
  });

  it('builds whole responses for /api and /apis', () => {
    const agg = discoveryResponse('apis', kubectlAccept, 'h:1');
    assert.ok(agg);
    assert.equal(agg.contentType, 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    assert.equal(agg.body.kind, 'APIGroupDiscoveryList');
    const legacy = discoveryResponse('legacy', 'application/json', 'h:1');
    assert.ok(legacy);
    assert.equal(legacy.contentType, 'application/json');
    assert.equal(legacy.body.kind, 'APIVersions');
    assert.equal(discoveryResponse('apis', 'application/json', 'h:1')?.body.kind, 'APIGroupList');
    assert.equal(discoveryResponse('apis', 'text/html', 'h:1'), undefined);
  });
});

describe('parseAccept', () => {
  it('keeps parameters, quotes and order; drops q=0 and junk', () => {
    assert.deepEqual(
      parseAccept('Application/JSON; as=Table ;v="v1";g=meta.k8s.io, text/plain;q=0, nonsense, */*;q=0.1'),
      [
        { type: 'application', subtype: 'json', params: { as: 'Table', v: 'v1', g: 'meta.k8s.io' }, q: 1 },
        { type: '*', subtype: '*', params: {}, q: 0.1 },
      ],
    );
  });
});
