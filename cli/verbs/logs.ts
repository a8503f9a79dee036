/**
 * `berth logs [-f] [--tail N] [-c C] [--timestamps] [--previous] [--since D] [--limit-bytes N] POD`:
 * kubectl's logs for one pod — GET the pod (to pick the container as kubectl does: the
 * `kubectl.kubernetes.io/default-container` annotation, else the first, saying "Defaulted container"
 * when there are several), then stream `GET …/pods/POD/log` to stdout as it arrives.
 *
 * Also home of `rawConnection`, the kubeconfig-derived HTTPS/WebSocket settings that streaming verbs
 * (logs, exec) use directly: they need the response bytes as they come, and exec needs a WebSocket,
 * neither of which the buffered/line-based verb transport gives.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { homedir } from 'node:os';
import { Command } from 'commander';
import type { Status } from '../../api/status.js';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';
import { berthVersion } from '../../lib/version.js';
import { formatStatusError } from '../client/error-message.js';
import { statusFromResponse } from '../client/kube-client.js';
import {
  parseCount,
  parseDuration,
  runVerb,
  usageError,
  withClientOptions,
  type ClientFlags,
  type VerbDeps,
} from './verb-support.js';

/** The settings a raw request to the API server needs. */
export interface RawConnection {
  /** The server URL without a trailing slash, e.g. `https://127.0.0.1:6443`. */
  readonly server: string;
  readonly namespace: string;
  /** TLS material, as node:https / ws take it. */
  readonly tls: RequestOptions;
  /** Auth and User-Agent headers. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Loads the kubeconfig as the other verbs do (`--kubeconfig`, `$KUBECONFIG`, `--context`, `-n`). */
export async function rawConnection(flags: ClientFlags): Promise<RawConnection> {
  const { loadKubeconfig } = await import('../client/kubeconfig.js');
  const loaded = loadKubeconfig({
    ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }),
    ...(flags.context === undefined ? {} : { context: flags.context }),
    ...(process.env['KUBECONFIG'] === undefined ? {} : { envKubeconfig: process.env['KUBECONFIG'] }),
    isRoot: process.getuid?.() === 0,
    home: homedir(),
  });
  const cluster = loaded.kubeConfig.getCurrentCluster();
  if (cluster === null) throw new BerthError(errorCodes.CONFIG_INVALID, 'kubeconfig has no current cluster');
  const tls: RequestOptions & { headers: Record<string, string> } = { headers: {} };
  try {
    await loaded.kubeConfig.applyToHTTPSOptions(tls);
  } catch (err) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `kubeconfig credentials: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(tls.headers)) if (typeof v === 'string') headers[k] = v;
  headers['User-Agent'] = `berth/${berthVersion().version} (${process.platform}/${process.arch})`;
  const explicit = flags.namespace !== undefined && flags.namespace !== '';
  return {
    server: cluster.server.replace(/\/+$/, ''),
    namespace: explicit ? (flags.namespace ?? '') : loaded.namespace,
    tls,
    headers,
  };
}

/** A GET whose response is returned unread (to stream it). */
export function rawGet(conn: RawConnection, path: string, signal?: AbortSignal): Promise<IncomingMessage> {
  const url = new URL(conn.server + path);
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const r = send(
      url,
      {
        ...tlsOnly(conn),
        method: 'GET',
        headers: { ...conn.headers, Accept: 'application/json, */*' },
        ...(signal === undefined ? {} : { signal }),
      },
      resolve,
    );
    r.on('error', (err) => {
      reject(
        new BerthError(
          errorCodes.API_UNREACHABLE,
          `cannot reach the API server at ${conn.server}: ${err.message}`,
          {
            cause: err,
          },
        ),
      );
    });
    r.end();
  });
}

/** The TLS settings of `conn` without its headers (which are passed on their own). */
export function tlsOnly(
  conn: RawConnection,
): Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'> {
  const t = conn.tls;
  return {
    ...(t.ca === undefined ? {} : { ca: t.ca }),
    ...(t.cert === undefined ? {} : { cert: t.cert }),
    ...(t.key === undefined ? {} : { key: t.key }),
    ...(t.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: t.rejectUnauthorized }),
    ...(t.servername === undefined ? {} : { servername: t.servername }),
  };
}

/** Reads a whole (error) response. */
export async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** GETs a pod as JSON, or the Status explaining why not. */
export async function getPodJson(
  conn: RawConnection,
  name: string,
): Promise<{ ok: true; pod: Record<string, unknown> } | { ok: false; status: Status }> {
  const res = await rawGet(
    conn,
    `/api/v1/namespaces/${encodeURIComponent(conn.namespace)}/pods/${encodeURIComponent(name)}`,
  );
  const body = await readText(res);
  if (res.statusCode !== 200) {
    return { ok: false, status: statusFromResponse(res.statusCode ?? 0, body, 'get', `pods ${name}`) };
  }
  return { ok: true, pod: JSON.parse(body) as Record<string, unknown> };
}

/** The container kubectl picks when none is named, and whether to say so. */
export function defaultContainer(
  pod: Record<string, unknown>,
): { name: string; notice?: string } | undefined {
  const spec = pod['spec'] as { containers?: { name?: string }[] } | undefined;
  const names = (spec?.containers ?? []).map((c) => c.name ?? '').filter((n) => n !== '');
  const meta = pod['metadata'] as { name?: string; annotations?: Record<string, string> } | undefined;
  const annotated = meta?.annotations?.['kubectl.kubernetes.io/default-container'];
  if (annotated !== undefined && names.includes(annotated)) return { name: annotated };
  const first = names[0];
  if (first === undefined) return undefined;
  if (names.length === 1) return { name: first };
  return {
    name: first,
    notice: `Defaulted container "${first}" out of: ${names.join(', ')}\n`,
  };
}

/** `logs` flags. */
export interface LogsFlags extends ClientFlags {
  readonly follow?: boolean;
  readonly tail?: number;
  readonly container?: string;
  readonly timestamps?: boolean;
  readonly previous?: boolean;
  readonly since?: number;
  readonly limitBytes?: number;
}

/** The `logs` command. */
export function logsCommand(deps: VerbDeps): Command {
  return withClientOptions(
    new Command('logs')
      .description("print a container's logs (kubectl logs)")
      .argument('<pod>', 'pod name (or pod/NAME)')
      .option('-f, --follow', 'keep streaming new lines until the container stops')
      .option('--tail <n>', 'only the last N lines', parseCount)
      .option('-c, --container <name>', 'the container (default: the only one, else the first)')
      .option('--timestamps', 'prefix each line with its RFC3339 timestamp')
      .option('-p, --previous', "the previous instance of the container's logs")
      .option('--since <duration>', 'only lines newer than this (5s, 2m, 3h)', parseDuration)
      .option('--limit-bytes <n>', 'stop after this many bytes', parseCount),
  ).action(async (pod: string, flags: LogsFlags) => {
    await runVerb(deps, () => runLogs(pod, flags, deps));
  });
}

/** Runs `logs`; returns the exit code. */
export async function runLogs(podArg: string, flags: LogsFlags, deps: VerbDeps): Promise<number> {
  const pod = podArg.startsWith('pod/')
    ? podArg.slice(4)
    : podArg.startsWith('pods/')
      ? podArg.slice(5)
      : podArg;
  if (pod === '' || pod.includes('/')) throw usageError(`berth logs takes a pod name, not "${podArg}"`);
  const conn = await rawConnection(flags);
  let container = flags.container;
  if (container === undefined) {
    const got = await getPodJson(conn, pod);
    if (!got.ok) {
      deps.io.stderr.write(formatStatusError(got.status));
      return 1;
    }
    const picked = defaultContainer(got.pod);
    if (picked?.notice !== undefined) deps.io.stderr.write(picked.notice);
    container = picked?.name;
  }
  const q = new URLSearchParams();
  if (container !== undefined) q.set('container', container);
  if (flags.follow === true) q.set('follow', 'true');
  if (flags.previous === true) q.set('previous', 'true');
  if (flags.timestamps === true) q.set('timestamps', 'true');
  if (flags.tail !== undefined) q.set('tailLines', String(flags.tail));
  if (flags.since !== undefined) q.set('sinceSeconds', String(Math.max(1, Math.ceil(flags.since / 1000))));
  if (flags.limitBytes !== undefined) q.set('limitBytes', String(flags.limitBytes));
  const path = `/api/v1/namespaces/${encodeURIComponent(conn.namespace)}/pods/${encodeURIComponent(pod)}/log?${q.toString()}`;
  const res = await rawGet(conn, path);
  if (res.statusCode !== 200) {
    const body = await readText(res);
    deps.io.stderr.write(
      formatStatusError(statusFromResponse(res.statusCode ?? 0, body, 'get', `pods ${pod}`)),
    );
    return 1;
  }
  const decoder = new TextDecoder();
  for await (const chunk of res) deps.io.stdout.write(decoder.decode(chunk as Buffer, { stream: true }));
  const rest = decoder.decode();
  if (rest !== '') deps.io.stdout.write(rest);
  return 0;
}
