/**
 * A `berth server` for benchmarks, in its own process so that the benchmark's clients do not share its
 * event loop. Started with one JSON argument (`ApiServerChildOptions`); prints one JSON line
 * (`ApiServerChildInfo`) on stdout when it serves, and shuts down cleanly on SIGTERM.
 * Unlike `berth server`, it lets a benchmark turn the watch cache off or tune it.
 */
import { silentLogger } from '../../lib/logger.js';
import { startServer, type ServerOptions } from '../../controller/server.js';

export interface ApiServerChildOptions {
  readonly dataDir: string;
  readonly port: number;
  readonly store: 'sqlite' | 'etcd';
  readonly etcdEndpoints?: readonly string[];
  readonly etcdPrefix?: string;
  /** false: every LIST and WATCH reads the store (the path before the watch cache). */
  readonly watchCache: ServerOptions['watchCache'];
  /** Simulated agents send no heartbeats: a long grace keeps their nodes Ready (and their pods). */
  readonly nodeMonitorGracePeriodMs?: number;
}

export interface ApiServerChildInfo {
  readonly url: string;
  readonly token: string;
  readonly caPem: string;
  readonly pid: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as ApiServerChildOptions;
const server = await startServer({
  dataDir: opts.dataDir,
  listenHost: '127.0.0.1',
  listenPort: opts.port,
  store: opts.store,
  ...(opts.etcdEndpoints === undefined ? {} : { etcdEndpoints: opts.etcdEndpoints }),
  ...(opts.etcdPrefix === undefined ? {} : { etcdPrefix: opts.etcdPrefix }),
  ...(opts.watchCache === undefined ? {} : { watchCache: opts.watchCache }),
  ...(opts.nodeMonitorGracePeriodMs === undefined
    ? {}
    : { nodeMonitorGracePeriodMs: opts.nodeMonitorGracePeriodMs }),
  logger: silentLogger(),
});
const info: ApiServerChildInfo = {
  url: server.url,
  token: server.adminToken,
  caPem: server.caCertPem,
  pid: process.pid,
};
process.stdout.write(`${JSON.stringify(info)}\n`);
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  // process.exit (not a natural end) so that --cpu-prof writes its profile even with sockets open.
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The parent going away (stdin closes) also stops us: nothing may outlive the benchmark.
process.stdin.on('end', stop);
process.stdin.resume();
