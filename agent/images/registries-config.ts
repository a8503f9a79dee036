/**
 * The agent's registries file, k3s `registries.yaml` format: per-registry mirrors (tried in order,
 * then the registry itself), repository rewrites for a mirror, and per-host settings — credentials,
 * a custom CA, a client certificate, `insecure_skip_verify`. A mirror endpoint written `http://…` is
 * used over plain HTTP. Also the rule Docker applies with no configuration: a registry on `localhost`,
 * `127.0.0.0/8` or `::1` is tried over HTTPS and then plain HTTP.
 *
 * ```yaml
 * mirrors:
 *   docker.io:
 *     endpoint: ["https://mirror.example.com:5000", "http://10.0.0.5:5000"]
 *     rewrite: { "^rancher/(.*)": "mirror/rancher/$1" }
 * configs:
 *   mirror.example.com:5000:
 *     auth: { username: u, password: p }        # or auth: <base64 user:pass>, identitytoken: …
 *     tls: { ca_file: /etc/ca.pem, cert_file: …, key_file: …, insecure_skip_verify: false }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { BerthError, errorCodes } from '../../lib/errors.js';
import type { RegistryCredentials } from './image-service.js';

/** TLS settings for one registry host: PEM text, not file names. */
export interface TlsSettings {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecureSkipVerify?: boolean;
}

export interface HostConfig {
  readonly credentials?: RegistryCredentials;
  readonly tls?: TlsSettings;
}

export interface MirrorConfig {
  readonly endpoints: readonly string[];
  readonly rewrites: readonly { readonly pattern: RegExp; readonly replacement: string }[];
}

export interface RegistriesConfig {
  readonly mirrors: ReadonlyMap<string, MirrorConfig>;
  readonly configs: ReadonlyMap<string, HostConfig>;
}

export const emptyRegistriesConfig: RegistriesConfig = { mirrors: new Map(), configs: new Map() };

/** One place to send registry API requests to, in the order they are tried. */
export interface RegistryEndpoint {
  /** Base URL of the API, ending in `/v2` (e.g. `https://registry-1.docker.io/v2`). */
  readonly apiBase: string;
  /** `host[:port]` of the endpoint, the key for credentials and TLS. */
  readonly host: string;
  /** True for a mirror, false for the registry itself. */
  readonly mirror: boolean;
  readonly tls: TlsSettings;
  /** Credentials configured for this host in the registries file. */
  readonly credentials?: RegistryCredentials;
  /** If the HTTPS endpoint fails at the TLS/connection level, retry it over plain HTTP (Docker's insecure-registry rule). */
  readonly plainHttpFallback: boolean;
  /** The repository path to ask this endpoint for (rewrites applied). */
  readonly repository: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function configError(message: string, cause?: unknown): BerthError {
  return new BerthError(
    errorCodes.CONFIG_INVALID,
    `registries config: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Reads files named in `tls` (`ca_file` …) through `readText`; tests pass an in-memory reader. */
export async function parseRegistriesConfig(
  text: string,
  readText: (path: string) => Promise<string> = (p) => readFile(p, 'utf8'),
): Promise<RegistriesConfig> {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw configError('not valid YAML', err);
  }
  if (doc === null || doc === undefined) return emptyRegistriesConfig;
  if (!isRecord(doc)) throw configError('top level must be a mapping');
  const mirrors = new Map<string, MirrorConfig>();
  if (doc['mirrors'] !== undefined) {
    if (!isRecord(doc['mirrors'])) throw configError('"mirrors" must be a mapping');
    for (const [registry, m] of Object.entries(doc['mirrors'])) {
      if (!isRecord(m)) throw configError(`mirrors.${registry} must be a mapping`);
      const raw = m['endpoint'] ?? [];
      if (!Array.isArray(raw) || !raw.every((e): e is string => typeof e === 'string')) {
        throw configError(`mirrors.${registry}.endpoint must be a list of URLs`);
      }
      const endpoints = raw.map((e) => {
        const withScheme = /^[a-z]+:\/\//i.test(e) ? e : `https://${e}`;
        let u: URL;
        try {
          u = new URL(withScheme);
        } catch (err) {
          throw configError(`mirrors.${registry}.endpoint: bad URL "${e}"`, err);
        }
        if (u.protocol !== 'http:' && u.protocol !== 'https:') {
          throw configError(`mirrors.${registry}.endpoint: "${e}" must be http or https`);
        }
        return withScheme;
      });
      const rewrites: { pattern: RegExp; replacement: string }[] = [];
      if (isRecord(m['rewrite'])) {
        for (const [pattern, replacement] of Object.entries(m['rewrite'])) {
          if (typeof replacement !== 'string') continue;
          try {
            rewrites.push({ pattern: new RegExp(pattern), replacement });
          } catch (err) {
            throw configError(`mirrors.${registry}.rewrite: bad pattern "${pattern}"`, err);
          }
        }
      }
      mirrors.set(registry, { endpoints, rewrites });
    }
  }
  const configs = new Map<string, HostConfig>();
  if (doc['configs'] !== undefined) {
    if (!isRecord(doc['configs'])) throw configError('"configs" must be a mapping');
    for (const [host, c] of Object.entries(doc['configs'])) {
      if (!isRecord(c)) throw configError(`configs.${host} must be a mapping`);
      configs.set(host, await parseHostConfig(host, c, readText));
    }
  }
  return { mirrors, configs };
}

async function parseHostConfig(
  host: string,
  c: Record<string, unknown>,
  readText: (path: string) => Promise<string>,
): Promise<HostConfig> {
  let credentials: RegistryCredentials | undefined;
  const auth = c['auth'];
  if (isRecord(auth)) {
    let username = typeof auth['username'] === 'string' ? auth['username'] : undefined;
    let password = typeof auth['password'] === 'string' ? auth['password'] : undefined;
    if (typeof auth['auth'] === 'string') {
      const decoded = Buffer.from(auth['auth'], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        username = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
    }
    const identityToken = typeof auth['identitytoken'] === 'string' ? auth['identitytoken'] : undefined;
    credentials = {
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(identityToken === undefined ? {} : { identityToken }),
    };
  }
  let tls: TlsSettings | undefined;
  if (isRecord(c['tls'])) {
    const t = c['tls'];
    const read = async (key: string): Promise<string | undefined> => {
      const p = t[key];
      if (typeof p !== 'string' || p === '') return undefined;
      try {
        return await readText(p);
      } catch (err) {
        throw configError(`configs.${host}.tls.${key}: cannot read ${p}`, err);
      }
    };
    const ca = await read('ca_file');
    const cert = await read('cert_file');
    const key = await read('key_file');
    tls = {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(t['insecure_skip_verify'] === true ? { insecureSkipVerify: true } : {}),
    };
  }
  return {
    ...(credentials === undefined ? {} : { credentials }),
    ...(tls === undefined ? {} : { tls }),
  };
}

/** Reads the registries file; a missing file is an empty config. */
export async function readRegistriesConfig(path: string): Promise<RegistriesConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyRegistriesConfig;
    throw configError(`cannot read ${path}`, err);
  }
  return parseRegistriesConfig(text);
}

/** True for `localhost`, `127.0.0.0/8` and `::1` (with or without a port): plain HTTP allowed without configuration. */
export function isLoopbackHost(host: string): boolean {
  let h = host;
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(h);
  if (bracket !== null) h = bracket[1] ?? h;
  else if (/:\d+$/.test(h) && isIP(h) !== 6) h = h.replace(/:\d+$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/** The host Docker Hub's API lives on. */
const dockerHubApiHost = 'registry-1.docker.io';

/**
 * The endpoints to try for `domain/repository`, in order: the mirrors configured for the domain (or
 * for `*`), then the registry itself.
 */
export function endpointsFor(
  config: RegistriesConfig,
  domain: string,
  repository: string,
): RegistryEndpoint[] {
  const out: RegistryEndpoint[] = [];
  const mirror = config.mirrors.get(domain) ?? config.mirrors.get('*');
  const hostConfig = (host: string): HostConfig | undefined =>
    config.configs.get(host) ?? config.configs.get('*');
  for (const e of mirror?.endpoints ?? []) {
    const u = new URL(e);
    const host = u.host;
    let path = u.pathname.replace(/\/+$/, '');
    if (!path.endsWith('/v2')) path = `${path}/v2`;
    let repo = repository;
    for (const r of mirror?.rewrites ?? []) {
      if (r.pattern.test(repo)) {
        repo = repo.replace(r.pattern, r.replacement);
        break;
      }
    }
    const hc = hostConfig(host);
    // The registry itself is added below; a mirror entry naming it is just a reordering.
    if (host === domain && u.protocol === 'https:' && repo === repository) continue;
    out.push({
      apiBase: `${u.protocol}//${host}${path}`,
      host,
      mirror: host !== domain,
      tls: hc?.tls ?? {},
      ...(hc?.credentials === undefined ? {} : { credentials: hc.credentials }),
      plainHttpFallback: false,
      repository: repo,
    });
  }
  const apiHost = domain === 'docker.io' ? dockerHubApiHost : domain;
  const hc = hostConfig(domain);
  out.push({
    apiBase: `https://${apiHost}/v2`,
    host: domain,
    mirror: false,
    tls: hc?.tls ?? {},
    ...(hc?.credentials === undefined ? {} : { credentials: hc.credentials }),
    plainHttpFallback: isLoopbackHost(domain) || hc?.tls?.insecureSkipVerify === true,
    repository,
  });
  return out;
}
