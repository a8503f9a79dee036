/**
 * Service validation (pkg/apis/core/validation: ValidateService, validateServicePort,
 * ValidateServiceUpdate): ports (required unless headless or ExternalName), port names unique and
 * required when there are several, ranges, protocols, type and session-affinity enums, selector
 * syntax, cluster IPs; and on update, the primary cluster IP.
 */

import type { StatusCause } from '../status.js';
import {
  duplicate,
  forbiddenField,
  goQuote,
  goSyntax,
  invalidValue,
  notSupported,
  required,
} from '../status.js';
import { asArray, asNumber, asObject, asString, type JsonObject } from './json-access.js';
import { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidIP, isValidPortNum } from './names.js';
import { validateLabels } from './object-meta.js';
import { validatePortNumOrName, validateProtocol } from './pod.js';

const serviceTypes = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const sessionAffinities = ['ClientIP', 'None'];
const kubeletPort = 10250;

function clusterIPsOf(spec: JsonObject): string[] {
  const list = asArray(spec['clusterIPs']).map(asString);
  if (list.length > 0) return list;
  const ip = asString(spec['clusterIP']);
  return ip === '' ? [] : [ip];
}

function isHeadless(spec: JsonObject): boolean {
  return clusterIPsOf(spec)[0] === 'None';
}

function goServicePortKey(protocol: string, port: number): ReturnType<typeof goSyntax> {
  return goSyntax(
    `core.ServicePort{Name:"", Protocol:${goQuote(protocol)}, AppProtocol:(*string)(nil), Port:${port}, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`,
  );
}

/** ValidateService minus metadata. */
export function validateService(svc: JsonObject): StatusCause[] {
  const spec = asObject(svc['spec']) ?? {};
  const causes: StatusCause[] = [];
  const type = asString(spec['type']);
  const ports = asArray(spec['ports']);
  const headless = isHeadless(spec);
  if (ports.length === 0 && !headless && type !== 'ExternalName') causes.push(required('spec.ports'));

  const ips = clusterIPsOf(spec);
  switch (type) {
    case 'LoadBalancer':
      ports.forEach((p, i) => {
        if (asObject(p)?.['port'] === kubeletPort) {
          causes.push(
            invalidValue(
              `spec.ports[${i}]`,
              kubeletPort,
              `may not expose port ${kubeletPort} externally since it is used by kubelet`,
            ),
          );
        }
      });
      if (headless)
        causes.push(
          invalidValue('spec.clusterIPs[0]', ips[0], "may not be set to 'None' for LoadBalancer services"),
        );
      break;
    case 'NodePort':
      if (headless)
        causes.push(
          invalidValue('spec.clusterIPs[0]', ips[0], "may not be set to 'None' for NodePort services"),
        );
      break;
    case 'ExternalName': {
      if (ips.length > 0)
        causes.push(forbiddenField('spec.clusterIPs', 'may not be set for ExternalName services'));
      const cname = asString(spec['externalName']).replace(/\.$/, '');
      if (cname === '') causes.push(required('spec.externalName'));
      else
        for (const msg of isDNS1123Subdomain(cname))
          causes.push(invalidValue('spec.externalName', cname, msg));
      break;
    }
    default:
      break;
  }
  if (type !== 'ExternalName') {
    ips.forEach((ip, i) => {
      if (ip === 'None' && i === 0) return;
      for (const msg of isValidIP(ip)) causes.push(invalidValue(`spec.clusterIPs[${i}]`, ip, msg));
    });
    const clusterIP = asString(spec['clusterIP']);
    if (clusterIP !== '' && ips[0] !== clusterIP) {
      causes.push(
        invalidValue(
          'spec.clusterIPs',
          goSyntax(`[]string{${ips.map(goQuote).join(', ')}}`),
          'first value must match `clusterIP`',
        ),
      );
    }
  }

  const names = new Set<string>();
  const requireName = ports.length > 1;
  ports.forEach((p, i) => {
    const sp = asObject(p) ?? {};
    const ip = `spec.ports[${i}]`;
    const name = asString(sp['name']);
    if (requireName && name === '') causes.push(required(`${ip}.name`));
    else if (name !== '') {
      for (const msg of isDNS1123Label(name)) causes.push(invalidValue(`${ip}.name`, name, msg));
      if (names.has(name)) causes.push(duplicate(`${ip}.name`, name));
      else names.add(name);
    }
    const port = asNumber(sp['port']) ?? 0;
    for (const msg of isValidPortNum(port)) causes.push(invalidValue(`${ip}.port`, port, msg));
    causes.push(...validateProtocol(sp['protocol'], `${ip}.protocol`));
    causes.push(...validatePortNumOrName(sp['targetPort'], `${ip}.targetPort`));
    const appProtocol = sp['appProtocol'];
    if (typeof appProtocol === 'string') {
      for (const msg of isQualifiedName(appProtocol))
        causes.push(invalidValue(`${ip}.appProtocol`, appProtocol, msg));
    }
  });

  if (spec['selector'] != null) causes.push(...validateLabels(spec['selector'], 'spec.selector'));

  const affinity = asString(spec['sessionAffinity']);
  if (affinity === '') causes.push(required('spec.sessionAffinity'));
  else if (!sessionAffinities.includes(affinity))
    causes.push(notSupported('spec.sessionAffinity', affinity, sessionAffinities));

  if (type === '') causes.push(required('spec.type'));
  else if (!serviceTypes.includes(type)) causes.push(notSupported('spec.type', type, serviceTypes));

  if (type === 'ClusterIP') {
    ports.forEach((p, i) => {
      const np = asNumber(asObject(p)?.['nodePort']) ?? 0;
      if (np !== 0)
        causes.push(
          forbiddenField(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"),
        );
    });
  }
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    const sp = asObject(p) ?? {};
    const np = asNumber(sp['nodePort']) ?? 0;
    if (np === 0) return;
    const key = `${asString(sp['protocol'])}/${np}`;
    if (nodePorts.has(key)) causes.push(duplicate(`spec.ports[${i}].nodePort`, np));
    nodePorts.add(key);
  });
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const sp = asObject(p) ?? {};
    const protocol = asString(sp['protocol']);
    const port = asNumber(sp['port']) ?? 0;
    const key = `${protocol}/${port}`;
    if (seen.has(key)) causes.push(duplicate(`spec.ports[${i}]`, goServicePortKey(protocol, port)));
    seen.add(key);
  });
  return causes;
}

/** ValidateServiceUpdate: the primary cluster IP may not change (unless to/from ExternalName). */
export function validateServiceUpdate(svc: JsonObject, old: JsonObject): StatusCause[] {
  const causes = validateService(svc);
  const spec = asObject(svc['spec']) ?? {};
  const oldSpec = asObject(old['spec']) ?? {};
  if (asString(spec['type']) === 'ExternalName' || asString(oldSpec['type']) === 'ExternalName')
    return causes;
  const ips = clusterIPsOf(spec);
  const oldIPs = clusterIPsOf(oldSpec);
  if (ips.length > 0 && oldIPs.length > 0 && ips[0] !== oldIPs[0]) {
    causes.push(
      invalidValue(
        'spec.clusterIPs[0]',
        goSyntax(`[]string{${ips.map(goQuote).join(', ')}}`),
        'may not change once set',
      ),
    );
  }
  return causes;
}
