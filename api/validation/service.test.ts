/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-explicit-any -- these tests read and mutate arbitrary API JSON */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { applyDefaults } from '../defaults/defaults.js';
import { causeString, type StatusCause } from '../status.js';
import { validateCreate, validateUpdate } from './validate.js';

type Json = Record<string, any>;

const lines = (causes: StatusCause[]): string[] => causes.map(causeString);

function svc(spec: Json, name = 'web'): Json {
  return applyDefaults({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', uid: 'u', resourceVersion: '1' },
    spec,
  });
}

describe('Service create validation', () => {
  it('accepts typical services', () => {
    assert.deepEqual(
      validateCreate(svc({ selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] })),
      [],
    );
    assert.deepEqual(validateCreate(svc({ clusterIP: 'None', selector: { app: 'web' } })), []);
    assert.deepEqual(validateCreate(svc({ type: 'ExternalName', externalName: 'db.example.com.' })), []);
    assert.deepEqual(
      validateCreate(
        svc({
          type: 'NodePort',
          ports: [
            { name: 'http', port: 80, nodePort: 30080 },
            { name: 'https', port: 443 },
          ],
        }),
      ),
      [],
    );
  });

  it('names are DNS-1035 labels', () => {
    assert.deepEqual(lines(validateCreate(svc({ ports: [{ port: 80 }] }, '1web'))), [
      `metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
    ]);
  });

  it('requires ports unless headless', () => {
    assert.deepEqual(lines(validateCreate(svc({ selector: { app: 'web' } }))), [
      'spec.ports: Required value',
    ]);
  });

  it('checks ports', () => {
    assert.deepEqual(
      lines(
        validateCreate(
          svc({
            ports: [
              { port: 80 },
              { name: 'http', port: 0, protocol: 'HTTP', targetPort: 'Bad' },
              { name: 'http', port: 81 },
              { name: 'x', port: 81 },
            ],
          }),
        ),
      ),
      [
        'spec.ports[0].name: Required value',
        'spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive',
        'spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        'spec.ports[1].targetPort: Invalid value: "Bad": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        'spec.ports[2].name: Duplicate value: "http"',
        'spec.ports[3]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:81, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}',
      ],
    );
  });

  it('checks type, affinity, selector and cluster IPs', () => {
    assert.deepEqual(
      lines(
        validateCreate(
          svc({
            type: 'Internal',
            sessionAffinity: 'Sticky',
            selector: { 'a b': 'c' },
            clusterIP: '10.0.0.300',
            ports: [{ port: 80 }],
          }),
        ),
      ),
      [
        'spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        `spec.selector: Invalid value: "a b": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
        'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"',
        'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
      ],
    );
    assert.deepEqual(lines(validateCreate(svc({ ports: [{ port: 80, nodePort: 30000 }] }))), [
      "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    ]);
    assert.deepEqual(
      lines(validateCreate(svc({ type: 'NodePort', clusterIP: 'None', ports: [{ port: 80 }] }))),
      [`spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services`],
    );
    assert.deepEqual(lines(validateCreate(svc({ type: 'ExternalName' }))), [
      'spec.externalName: Required value',
    ]);
  });
});

describe('Service update validation', () => {
  it('keeps the primary cluster IP', () => {
    const old = svc({ clusterIP: '10.96.0.10', ports: [{ port: 80 }] });
    const next = structuredClone(old);
    next['spec'].clusterIP = '10.96.0.11';
    next['spec'].clusterIPs = ['10.96.0.11'];
    assert.deepEqual(lines(validateUpdate(next, old)), [
      'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set',
    ]);
    const ok = structuredClone(old);
    ok['spec'].ports[0].port = 81;
    ok['spec'].ports[0].targetPort = 81;
    assert.deepEqual(validateUpdate(ok, old), []);
  });
});
