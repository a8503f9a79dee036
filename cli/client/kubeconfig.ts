/**
 * Which kubeconfig the CLI uses and what it says: `--kubeconfig`, else `$KUBECONFIG` (a path list,
 * merged as kubectl merges it: the first file that names a current context wins), else the file
 * `berth server` writes into its default data dir (`/var/lib/berth/kubeconfig.yaml` as root,
 * `~/.berth/kubeconfig.yaml` otherwise — the defaults of cli/server-command.ts, repeated here so the
 * client does not load the server). Parsing and credentials are @kubernetes/client-node's.
 */

import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { BerthError, errorCodes, errorMessage } from '../../lib/errors.js';

/** Where to look, with the environment passed in so the choice is testable. */
export interface KubeconfigSource {
  /** `--kubeconfig`. */
  readonly kubeconfig?: string;
  /** `--context`. */
  readonly context?: string;
  /** `$KUBECONFIG`. */
  readonly envKubeconfig?: string;
  readonly isRoot: boolean;
  readonly home: string;
}

/** A loaded, context-selected kubeconfig and the namespace its context defaults to. */
export interface LoadedKubeconfig {
  readonly kubeConfig: KubeConfig;
  /** The context's namespace, or `default`. */
  readonly namespace: string;
  /** The files it came from, for error messages. */
  readonly paths: readonly string[];
}

/** The kubeconfig `berth server` writes when run with its default data dir. */
export function defaultKubeconfigPath(src: Pick<KubeconfigSource, 'isRoot' | 'home'>): string {
  return src.isRoot ? '/var/lib/berth/kubeconfig.yaml' : join(src.home, '.berth', 'kubeconfig.yaml');
}

/** The kubeconfig files to read, in precedence order. */
export function kubeconfigPaths(src: KubeconfigSource): string[] {
  if (src.kubeconfig !== undefined && src.kubeconfig !== '') return [src.kubeconfig];
  const env = (src.envKubeconfig ?? '').split(delimiter).filter((p) => p !== '');
  if (env.length > 0) return env;
  return [defaultKubeconfigPath(src)];
}

/**
 * Loads the kubeconfig and selects `--context` (or its current context). Throws CONFIG_INVALID when
 * no file is readable, the context does not exist, or no cluster is configured.
 */
export function loadKubeconfig(src: KubeconfigSource): LoadedKubeconfig {
  const paths = kubeconfigPaths(src);
  const explicit = src.kubeconfig !== undefined && src.kubeconfig !== '';
  let kc: KubeConfig | undefined;
  for (const path of paths) {
    const next = new KubeConfig();
    try {
      next.loadFromFile(path);
    } catch (err) {
      // $KUBECONFIG may list files that do not exist; kubectl skips them. An explicit or default
      // path that cannot be read is an error.
      if (!explicit && paths.length > 1) continue;
      const hint =
        !explicit && src.envKubeconfig === undefined
          ? ' (berth server writes it there on first start; pass --kubeconfig or set KUBECONFIG otherwise)'
          : '';
      throw new BerthError(
        errorCodes.CONFIG_INVALID,
        `cannot load kubeconfig ${path}: ${errorMessage(err)}${hint}`,
        { cause: err },
      );
    }
    if (kc === undefined) kc = next;
    else mergeFirstWins(kc, next);
  }
  if (kc === undefined) {
    throw new BerthError(errorCodes.CONFIG_INVALID, `no readable kubeconfig in ${paths.join(delimiter)}`);
  }
  if (src.context !== undefined && src.context !== '') {
    if (kc.getContextObject(src.context) === null) {
      throw new BerthError(errorCodes.CONFIG_INVALID, `context "${src.context}" does not exist`);
    }
    kc.setCurrentContext(src.context);
  }
  if (kc.getCurrentCluster() === null) {
    throw new BerthError(
      errorCodes.CONFIG_INVALID,
      `kubeconfig ${paths.join(delimiter)} has no cluster for context "${currentContext(kc)}"`,
    );
  }
  const ctx = kc.getContextObject(currentContext(kc));
  const namespace = ctx?.namespace !== undefined && ctx.namespace !== '' ? ctx.namespace : 'default';
  return { kubeConfig: kc, namespace, paths };
}

/** kubectl's merge of a `$KUBECONFIG` list: the first definition of each name, and of current-context, wins. */
function mergeFirstWins(into: KubeConfig, from: KubeConfig): void {
  const has = (list: readonly { readonly name: string }[], name: string): boolean =>
    list.some((x) => x.name === name);
  for (const c of from.getClusters()) if (!has(into.getClusters(), c.name)) into.addCluster(c);
  for (const u of from.getUsers()) if (!has(into.getUsers(), u.name)) into.addUser(u);
  for (const c of from.getContexts()) if (!has(into.getContexts(), c.name)) into.addContext(c);
  if (currentContext(into) === '' && currentContext(from) !== '') {
    into.setCurrentContext(currentContext(from));
  }
}

/** client-node leaves `currentContext` undefined when the file names none, despite its type. */
function currentContext(kc: KubeConfig): string {
  const name: unknown = kc.getCurrentContext();
  return typeof name === 'string' ? name : '';
}
