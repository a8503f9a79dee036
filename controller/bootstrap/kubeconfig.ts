/**
 * The admin kubeconfig: one cluster (server URL + CA as `certificate-authority-data`), one user with a
 * bearer token, one context, made current. This is the shape kubectl 1.32 and
 * @kubernetes/client-node were observed to accept (shared/reference/kubectl-api.md §11).
 */
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../lib/atomic-write.js';

export interface KubeconfigOptions {
  /** `https://HOST:PORT`. */
  readonly server: string;
  /** The CA certificate that signed the server's certificate (PEM). */
  readonly caPem: string;
  /** The bearer token. */
  readonly token: string;
  /** Name of the cluster and of the context. */
  readonly name: string;
  /** Name of the user entry; default `admin`. */
  readonly user?: string;
}

/** The kubeconfig as YAML text. Deterministic: the same options give the same bytes. */
export function renderKubeconfig(opts: KubeconfigOptions): string {
  const user = opts.user ?? 'admin';
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: opts.name,
        cluster: {
          server: opts.server,
          'certificate-authority-data': Buffer.from(opts.caPem, 'utf8').toString('base64'),
        },
      },
    ],
    users: [{ name: user, user: { token: opts.token } }],
    contexts: [{ name: opts.name, context: { cluster: opts.name, user } }],
    'current-context': opts.name,
    preferences: {},
  };
  // lineWidth 0: never fold the long base64 line.
  return stringify(config, { lineWidth: 0 });
}

/** Writes the kubeconfig to `path` atomically, readable by the owner only (0600: it holds a token). */
export async function writeKubeconfig(path: string, opts: KubeconfigOptions): Promise<void> {
  await writeFileAtomic(path, renderKubeconfig(opts), 0o600);
}
