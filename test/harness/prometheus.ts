/**
 * A real, throw-away Prometheus (/usr/bin/prometheus) for tests: its own temp dir for the config and
 * the TSDB, a free loopback port, ready when `/-/ready` answers. `query()` runs an instant PromQL query
 * through the HTTP API; `targets()` lists active targets. `stop()` kills it and removes the dir; a
 * process `exit` hook kills a forgotten one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const binary = process.env['PROMETHEUS_BIN'] ?? '/usr/bin/prometheus';
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Why Prometheus tests must be skipped here, or undefined when it can run. */
export function prometheusAvailable(): string | undefined {
  try {
    accessSync(binary, constants.X_OK);
    return undefined;
  } catch {
    return `prometheus not found at ${binary} (apt package prometheus, or set PROMETHEUS_BIN)`;
  }
}

export interface PrometheusHandle {
  readonly url: string;
  /** The temp dir holding prometheus.yml, any extra files, and the TSDB. */
  readonly dir: string;
  /** An instant query; resolves with the `data.result` vector. Throws on an API error. */
  query(promql: string): Promise<PromSample[]>;
  /** Active targets as the API reports them. */
  targets(): Promise<PromTarget[]>;
  output(): string;
  stop(): Promise<void>;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface PromTarget {
  readonly labels: Record<string, string>;
  readonly discoveredLabels: Record<string, string>;
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
}

export interface StartPrometheusOptions {
  /**
   * prometheus.yml; `$DIR` in it is replaced with the temp dir (where `files` are written), so the
   * config can name a CA file or a token file there.
   */
  readonly config: string;
  /** Files to write into the temp dir first, by name. */
  readonly files?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export async function startPrometheus(opts: StartPrometheusOptions): Promise<PrometheusHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-prometheus-'));
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'prometheus.yml'), opts.config.replaceAll('$DIR', dir));
  const port = await freePort();
  const child = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.console.templates=/dev/null',
      '--web.console.libraries=/dev/null',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode}:\n${out}`);
    }
    if ((await get(`${url}/-/ready`).catch(() => undefined))?.status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const api = async <T>(path: string): Promise<T> => {
    const reply = await get(`${url}${path}`);
    const body = JSON.parse(reply.body) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? reply.body}`);
    return body.data;
  };
  return {
    url,
    dir,
    query: async (promql) =>
      (await api<{ result: PromSample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    targets: async () =>
      (await api<{ activeTargets: PromTarget[] }>('/api/v1/targets?state=active')).activeTargets,
    output: () => out,
    stop,
  };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
