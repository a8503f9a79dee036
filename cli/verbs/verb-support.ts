/**
 * What every kubectl-like verb shares: the injected I/O (stdout, stderr, stdin, clock, manifest
 * reading) and connection factory, the client flags (`--kubeconfig`, `--context`, `-n`), turning
 * `TYPE NAME…` / `TYPE/NAME…` arguments into resources through the server's discovery, kubectl's
 * duration syntax, and running a verb so that its errors print as kubectl prints them and its exit
 * code reaches `berth`'s main (a non-zero code travels as a CommanderError, which main returns).
 */

import { homedir } from 'node:os';
import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import { realClock, type Clock } from '../../lib/clock.js';
import { BerthError, errorCodes } from '../../lib/errors.js';
import { formatError } from '../client/error-message.js';
import { kubeconfigTransport } from '../client/http-transport.js';
import { KubeClient } from '../client/kube-client.js';
import type { ManifestIO } from '../client/manifest-reader.js';
import { nodeManifestIO, readProcessStdin } from '../client/node-manifest-io.js';
import type { ApiResource, ResourceMapper } from '../client/resource-mapper.js';

/** Somewhere text goes. */
export interface Output {
  write(text: string): void;
}

/** The outside world as the verbs see it. */
export interface VerbIO {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly clock: Clock;
  readonly manifests: ManifestIO;
}

/** `--kubeconfig`, `--context`, `-n/--namespace`. */
export interface ClientFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
}

/** A connected client and the namespace commands default to. */
export interface Session {
  readonly client: KubeClient;
  readonly namespace: string;
  /** Whether `-n` was given (apply then refuses objects naming another namespace). */
  readonly explicitNamespace: boolean;
}

/** Everything a verb depends on. */
export interface VerbDeps {
  readonly io: VerbIO;
  connect(flags: ClientFlags): Promise<Session>;
}

/** The real process: its streams, the wall clock, the kubeconfig on disk. */
export function processVerbDeps(): VerbDeps {
  const stderr: Output = { write: (t) => process.stderr.write(t) };
  return {
    io: {
      stdout: { write: (t) => process.stdout.write(t) },
      stderr,
      clock: realClock,
      manifests: nodeManifestIO(readProcessStdin),
    },
    connect: async (flags) => {
      // Loaded on first use: @kubernetes/client-node takes a second or two to import, which
      // commands that never talk to an API server (`berth server`, `berth version`) should not pay.
      const { loadKubeconfig } = await import('../client/kubeconfig.js');
      const loaded = loadKubeconfig({
        ...(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig }),
        ...(flags.context === undefined ? {} : { context: flags.context }),
        ...(process.env['KUBECONFIG'] === undefined ? {} : { envKubeconfig: process.env['KUBECONFIG'] }),
        isRoot: process.getuid?.() === 0,
        home: homedir(),
      });
      const transport = await kubeconfigTransport(loaded.kubeConfig, (w) => {
        stderr.write(`Warning: ${w}\n`);
      });
      const explicit = flags.namespace !== undefined && flags.namespace !== '';
      return {
        client: new KubeClient(transport),
        namespace: explicit ? (flags.namespace ?? '') : loaded.namespace,
        explicitNamespace: explicit,
      };
    },
  };
}

/** Adds the client flags every verb takes. */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, then the berth server default)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-n, --namespace <ns>', 'namespace (default: the context namespace, else "default")')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
}

/**
 * Runs a verb body: prints any error as kubectl would and turns a non-zero exit code into a
 * CommanderError carrying it (main returns that code without printing again).
 */
export async function runVerb(deps: VerbDeps, body: () => Promise<number>): Promise<void> {
  let code: number;
  try {
    code = await body();
  } catch (err) {
    deps.io.stderr.write(formatError(err));
    code = 1;
  }
  if (code !== 0) throw new CommanderError(code, 'berth.verbFailed', '');
}

/** An error in what the user typed (`error: …`, exit 1). */
export function usageError(message: string): BerthError {
  return new BerthError(errorCodes.CONFIG_INVALID, message);
}

/** The resource a command-line name means, or kubectl's error for an unknown one. */
export function resolveResource(mapper: ResourceMapper, name: string): ApiResource {
  const r = mapper.byName(name);
  if (r === undefined) throw usageError(`the server doesn't have a resource type "${name}"`);
  return r;
}

/** What `TYPE[,TYPE…] [NAME…]` or `TYPE/NAME…` arguments ask for. */
export type ResourceArgs =
  | { readonly kind: 'collections'; readonly resources: readonly ApiResource[] }
  | {
      readonly kind: 'names';
      readonly items: readonly { readonly resource: ApiResource; readonly name: string }[];
    };

/** Parses resource arguments the way kubectl's resource builder does (`all` and other categories expand). */
export function parseResourceArgs(mapper: ResourceMapper, args: readonly string[]): ResourceArgs {
  const [first, ...rest] = args;
  if (first === undefined) throw usageError('you must specify the type of resource');
  if (first.includes('/')) {
    return {
      kind: 'names',
      items: args.map((arg) => {
        const slash = arg.indexOf('/');
        if (slash < 0)
          throw usageError(
            `there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'berth get resource/<resource_name>' instead of 'berth get resource resource/<resource_name>'`,
          );
        return { resource: resolveResource(mapper, arg.slice(0, slash)), name: arg.slice(slash + 1) };
      }),
    };
  }
  const resources = first.split(',').flatMap((t) => {
    const category = mapper.byCategory(t.toLowerCase());
    return mapper.byName(t) === undefined && category.length > 0 ? category : [resolveResource(mapper, t)];
  });
  if (rest.length === 0) return { kind: 'collections', resources };
  if (resources.length !== 1 || resources[0] === undefined) {
    throw usageError('a resource cannot be retrieved by name across multiple types');
  }
  const resource = resources[0];
  return { kind: 'names', items: rest.map((name) => ({ resource, name })) };
}

/** Parses kubectl durations (`30s`, `5m`, `1h30m`, `500ms`, bare seconds `0`). */
export function parseDuration(value: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const units: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = value;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (m === null) throw new InvalidArgumentError(`invalid duration "${value}" (use e.g. 30s, 5m, 1h)`);
    total += Number(m[1]) * (units[m[2] ?? 's'] ?? 1000);
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** Parses a non-negative integer flag value. */
export function parseCount(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
  return Number(value);
}

/** Parses `true`/`false` for flags written `--flag=false`, as kubectl's boolean flags are. */
export function parseBool(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError(`expected true or false, got "${value}"`);
}

/** Collects a repeatable option (`-f a -f b`). */
export function collect(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
