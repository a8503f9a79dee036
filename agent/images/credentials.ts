/**
 * Registry credentials: Docker `config.json` (`auths` with `auth` base64 or username/password,
 * `identitytoken`, `registrytoken`; `credHelpers` and `credsStore` run as `docker-credential-<name>
 * get`), Kubernetes pull secrets (`kubernetes.io/dockerconfigjson` and the legacy `dockercfg`), and the
 * kubelet's matching of credential keys to images (host globs like `*.example.com`, ports, path
 * prefixes, more specific keys first, `https://index.docker.io/v1/` for Docker Hub).
 */
import { readFile } from 'node:fs/promises';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { CommandRunner } from '../../lib/command-runner.js';
import type { RegistryCredentials } from './image-service.js';

/** A Docker client config, parsed. */
export interface DockerConfig {
  /** Credentials by key as written (`host`, `host/path`, `https://host/v1/`, `*.host`). */
  readonly auths: ReadonlyMap<string, RegistryCredentials>;
  /** Registry host → helper name (`docker-credential-<name>`). */
  readonly credHelpers: Readonly<Record<string, string>>;
  /** The default helper for hosts not in `credHelpers`. */
  readonly credsStore?: string;
}

export const emptyDockerConfig: DockerConfig = { auths: new Map(), credHelpers: {} };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One `auths` entry → credentials; undefined when it carries none. */
function entryCredentials(v: unknown): RegistryCredentials | undefined {
  if (!isRecord(v)) return undefined;
  let username = typeof v['username'] === 'string' ? v['username'] : undefined;
  let password = typeof v['password'] === 'string' ? v['password'] : undefined;
  if (typeof v['auth'] === 'string' && v['auth'] !== '') {
    const decoded = Buffer.from(v['auth'], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
  }
  const identityToken = typeof v['identitytoken'] === 'string' ? v['identitytoken'] : undefined;
  const registryToken = typeof v['registrytoken'] === 'string' ? v['registrytoken'] : undefined;
  const creds: RegistryCredentials = {
    ...(username === undefined || username === '' ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(identityToken === undefined || identityToken === '' ? {} : { identityToken }),
    ...(registryToken === undefined || registryToken === '' ? {} : { registryToken }),
  };
  return Object.keys(creds).length === 0 ? undefined : creds;
}

/** Parses a Docker `config.json` (or a `.dockerconfigjson`); also accepts the legacy bare `.dockercfg` map. */
export function parseDockerConfig(text: string): DockerConfig {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BerthError(errorCodes.CONFIG_INVALID, 'docker config: not valid JSON', { cause: err });
  }
  if (!isRecord(v)) throw new BerthError(errorCodes.CONFIG_INVALID, 'docker config: not a JSON object');
  const auths = new Map<string, RegistryCredentials>();
  const source = isRecord(v['auths']) ? v['auths'] : 'auths' in v || 'credHelpers' in v ? {} : v;
  for (const [key, entry] of Object.entries(source)) {
    const c = entryCredentials(entry);
    if (c !== undefined) auths.set(key, c);
  }
  const credHelpers: Record<string, string> = {};
  if (isRecord(v['credHelpers'])) {
    for (const [host, helper] of Object.entries(v['credHelpers'])) {
      if (typeof helper === 'string' && /^[A-Za-z0-9._-]+$/.test(helper)) credHelpers[host] = helper;
    }
  }
  const store = v['credsStore'];
  return {
    auths,
    credHelpers,
    ...(typeof store === 'string' && /^[A-Za-z0-9._-]+$/.test(store) ? { credsStore: store } : {}),
  };
}

/** Reads a Docker config file; a missing file is an empty config. */
export async function readDockerConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyDockerConfig;
    throw new BerthError(errorCodes.CONFIG_INVALID, `docker config ${path}: cannot read`, { cause: err });
  }
  return parseDockerConfig(text);
}

/**
 * Credentials from a Kubernetes pull secret's `data` (values base64, as in the API object), keyed as
 * in the secret. Types `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`) and
 * `kubernetes.io/dockercfg` (`.dockercfg`); other types give an empty map.
 */
export function credentialsFromPullSecret(
  type: string | undefined,
  data: Readonly<Record<string, string>> | undefined,
): Map<string, RegistryCredentials> {
  const field =
    type === 'kubernetes.io/dockerconfigjson'
      ? '.dockerconfigjson'
      : type === 'kubernetes.io/dockercfg'
        ? '.dockercfg'
        : undefined;
  const raw = field === undefined ? undefined : data?.[field];
  if (raw === undefined) return new Map();
  return new Map(parseDockerConfig(Buffer.from(raw, 'base64').toString('utf8')).auths);
}

interface ParsedKey {
  readonly hostParts: readonly string[];
  readonly port: string;
  readonly path: string;
}

/** A credential key or image name without scheme → host labels, port and path (kubelet's `ParseSchemelessURL`). */
function parseKey(key: string): ParsedKey | undefined {
  let rest = key.replace(/^[a-z]+:\/\//i, '');
  const slash = rest.indexOf('/');
  let path = '';
  if (slash >= 0) {
    path = rest.slice(slash);
    rest = rest.slice(0, slash);
  }
  if (rest === '') return undefined;
  let host = rest;
  let port = '';
  const m = /^(.*):(\d+)$/.exec(rest);
  if (m !== null && !rest.endsWith(']')) {
    host = m[1] ?? rest;
    port = m[2] ?? '';
  }
  return { hostParts: host.toLowerCase().split('.'), port, path };
}

/** The key kubelet files a credential under: host plus path, with `/v1/`, `/v2/` prefixes treated as the host. */
function normalizeKey(key: string): string {
  const p = parseKey(key);
  if (p === undefined) return key;
  let path = p.path;
  if (path.startsWith('/v2/') || path.startsWith('/v1/')) path = path.slice(3);
  const host = p.hostParts.join('.') + (p.port === '' ? '' : `:${p.port}`);
  return path.length > 0 && path !== '/' ? host + path : host;
}

function globLabel(glob: string, label: string): boolean {
  const re = new RegExp(
    `^${glob
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^.]*')}$`,
  );
  return re.test(label);
}

/** kubelet's `URLsMatch`: same port, same number of labels each matching its glob, path prefix. */
function keyMatches(key: string, image: string): boolean {
  const g = parseKey(key);
  const t = parseKey(image);
  if (g === undefined || t === undefined) return false;
  if (g.port !== t.port || g.hostParts.length !== t.hostParts.length) return false;
  if (!t.path.startsWith(g.path)) return false;
  return g.hostParts.every((part, i) => globLabel(part, t.hostParts[i] ?? ''));
}

const dockerHubKeys = new Set(['index.docker.io', 'docker.io', 'registry-1.docker.io']);

/**
 * Every credential in `map` that applies to `image` (`domain/path`, e.g. `docker.io/library/nginx`),
 * most specific key first — the kubelet's keyring lookup. Docker Hub images also match keys for
 * `index.docker.io` (what `docker login` writes).
 */
export function matchCredentials(
  map: ReadonlyMap<string, RegistryCredentials>,
  image: string,
): RegistryCredentials[] {
  const byKey = new Map<string, RegistryCredentials[]>();
  for (const [k, c] of map) {
    const key = normalizeKey(k);
    byKey.set(key, [...(byKey.get(key) ?? []), c]);
  }
  const index = [...byKey.keys()].sort().reverse();
  const out: RegistryCredentials[] = [];
  for (const k of index) if (keyMatches(k, image)) out.push(...(byKey.get(k) ?? []));
  if (out.length > 0) return out;
  const domain = image.split('/')[0] ?? '';
  if (dockerHubKeys.has(domain)) {
    for (const k of dockerHubKeys) out.push(...(byKey.get(k) ?? []));
  }
  return out;
}

/** The server URL Docker's credential helpers know a registry host by. */
function helperServerUrl(host: string): string {
  return dockerHubKeys.has(host) ? 'https://index.docker.io/v1/' : host;
}

/**
 * Credentials for `host` from a Docker config: a helper named for the host, else `auths`, else the
 * default `credsStore`. A helper that fails or knows nothing gives undefined (pull anonymously).
 */
export async function dockerConfigCredentials(
  config: DockerConfig,
  image: string,
  host: string,
  runner: CommandRunner,
  signal?: AbortSignal,
): Promise<RegistryCredentials | undefined> {
  const hubHost = dockerHubKeys.has(host);
  const helper =
    config.credHelpers[host] ?? (hubHost ? config.credHelpers['index.docker.io'] : undefined) ?? undefined;
  if (helper !== undefined) return runCredentialHelper(helper, helperServerUrl(host), runner, signal);
  const fromAuths = matchCredentials(config.auths, image)[0];
  if (fromAuths !== undefined) return fromAuths;
  if (config.credsStore !== undefined) {
    return runCredentialHelper(config.credsStore, helperServerUrl(host), runner, signal);
  }
  return undefined;
}

/** `docker-credential-<helper> get` with the server URL on stdin (the docker-credential-helpers protocol). */
export async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  runner: CommandRunner,
  signal?: AbortSignal,
): Promise<RegistryCredentials | undefined> {
  const r = await runner.run(`docker-credential-${helper}`, ['get'], {
    input: serverUrl,
    ...(signal === undefined ? {} : { signal }),
  });
  if (r.code !== 0) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(r.stdout);
  } catch {
    return undefined;
  }
  if (!isRecord(v) || typeof v['Secret'] !== 'string') return undefined;
  const username = typeof v['Username'] === 'string' ? v['Username'] : '';
  if (username === '<token>') return { identityToken: v['Secret'] };
  return { username, password: v['Secret'] };
}
