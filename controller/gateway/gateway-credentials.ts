/**
 * TLS for the agent gateway. One port serves both services, so the server asks every client for a
 * certificate but does not require one: Join is called before the agent has one (the token is its
 * credential), and Connect accepts only a certificate that OpenSSL verified against the cluster CA
 * (grpc-js exposes the peer certificate only then) and that names a node.
 *
 * The serving certificate is issued in memory at each start, for every name the agent may dial —
 * those of the gateway's listen address and of the API server's (agents derive the gateway host
 * from `--server`) — and sent with the CA certificate behind it, so that an agent holding only a
 * `K10<ca hash>` token can find the CA in the chain and pin it (agent/ca-pinning.ts).
 */
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import {
  issueServingCertificate,
  type CertificateAndKey,
  type CertificateAuthority,
} from '../../lib/pki/certificate-authority.js';
import { servingNames, type NetworkInterfaces } from '../bootstrap/serving-names.js';
import { nodeNameFromSubject } from './node-identity.js';

export interface GatewayCertificateOptions {
  /** Hosts the gateway and the API server listen on (wildcards bring in the interface addresses). */
  readonly listenHosts: readonly string[];
  readonly hostname: string;
  readonly interfaces: NetworkInterfaces;
  readonly now: number;
}

const clientAuthOid = '1.3.6.1.5.5.7.3.2';

/** A serving certificate for the gateway, valid for every name of every listen host. */
export async function issueGatewayCertificate(
  ca: CertificateAuthority,
  opts: GatewayCertificateOptions,
): Promise<CertificateAndKey> {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const listenHost of opts.listenHosts) {
    const names = servingNames({ listenHost, hostname: opts.hostname, interfaces: opts.interfaces });
    for (const n of names.dnsNames) dns.add(n);
    for (const ip of names.ipAddresses) ips.add(ip);
  }
  return issueServingCertificate(ca, {
    commonName: 'berth-agent-gateway',
    dnsNames: [...dns],
    ipAddresses: [...ips],
    validDays: 365,
    now: opts.now,
  });
}

/** Server credentials that request (but do not require) a client certificate issued by `ca`. */
export function gatewayServerCredentials(
  ca: CertificateAuthority,
  serving: CertificateAndKey,
): ServerCredentials {
  const provider = new StaticCertificateProvider(
    Buffer.from(ca.certPem),
    Buffer.from(`${serving.certPem.trimEnd()}\n${ca.certPem}`),
    Buffer.from(serving.keyPem),
  );
  // grpc-js names the first parameter `caCertificateProvider` but uses it as the identity provider;
  // one provider that answers both kinds of listener is right either way.
  return experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/**
 * The node a verified peer certificate identifies, or undefined: no certificate, one the CA did not
 * issue (grpc-js then reports none), one not for client authentication, or one that is not a node's.
 */
export function nodeNameOfPeer(peer: PeerCertificate | undefined): string | undefined {
  if (peer === undefined) return undefined;
  // Absent at run time when the certificate has no extended key usage extension.
  const usages: readonly string[] | undefined = peer.ext_key_usage;
  if (usages !== undefined && !usages.includes(clientAuthOid)) return undefined;
  return nodeNameFromSubject(peer.subject);
}

/** A certificate provider whose certificates never change. */
class StaticCertificateProvider implements experimental.CertificateProvider {
  readonly #ca: experimental.CaCertificateUpdate;
  readonly #identity: experimental.IdentityCertificateUpdate;

  constructor(caCertificate: Buffer, certificate: Buffer, privateKey: Buffer) {
    this.#ca = { caCertificate };
    this.#identity = { certificate, privateKey };
  }

  // Listeners are called asynchronously, as grpc-js's file-watching provider does: grpc-js registers
  // its watcher only after adding these listeners, so a synchronous call would go unheard.
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    queueMicrotask(() => {
      listener(this.#ca);
    });
  }

  removeCaCertificateListener(): void {
    // nothing changes, so nothing to stop
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    queueMicrotask(() => {
      listener(this.#identity);
    });
  }

  removeIdentityCertificateListener(): void {
    // nothing changes, so nothing to stop
  }
}
