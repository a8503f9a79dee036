/**
 * `@peculiar/x509`, loaded and configured once for the process: the Reflect shim it needs is
 * installed first, and its crypto provider is Node's WebCrypto. Every module in lib/pki imports the
 * library through here, never directly, so that the order of those two steps cannot go wrong.
 */
import './reflect-metadata-shim.js';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

/** Key algorithm for every key Berth generates: ECDSA on P-256 (what kubeadm and k3s use). */
export const ecKeyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** Signature algorithm for every certificate and request Berth signs. */
export const ecSigningAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
