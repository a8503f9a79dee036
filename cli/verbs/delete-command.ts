/**
 * `berth delete`: kubectl's delete for `-f FILE…`, `TYPE NAME…`, `TYPE/NAME…`, `TYPE -l SELECTOR`
 * and `TYPE --all`. Each object gets a DELETE carrying DeleteOptions (`propagationPolicy` from
 * `--cascade`, `gracePeriodSeconds`); then, with `--wait` (the default, as in kubectl), the command
 * waits until every deleted object is gone — a watch from the object's resourceVersion until its
 * DELETED event, or a GET that no longer finds the same UID.
 */

import { Command, Option } from 'commander';
import { isJsonObject, type JsonObject } from '../../api/patch/json-value.js';
import { at, str } from '../../api/table/json.js';
import { formatStatusError } from '../client/error-message.js';
import type { KubeClient } from '../client/kube-client.js';
import { readManifests } from '../client/manifest-reader.js';
import { kindNameOf, type ApiResource } from '../client/resource-mapper.js';
import {
  collect,
  parseCount,
  parseBool,
  parseDuration,
  parseResourceArgs,
  resolveResource,
  runVerb,
  usageError,
  withClientOptions,
  type ClientFlags,
  type VerbDeps,
} from './verb-support.js';

/** `delete` flags. */
export interface DeleteFlags extends ClientFlags {
  readonly filename?: readonly string[];
  readonly recursive?: boolean;
  readonly selector?: string;
  readonly all?: boolean;
  readonly cascade?: string;
  readonly gracePeriod?: number;
  readonly now?: boolean;
  readonly force?: boolean;
  readonly wait?: boolean;
  readonly timeout?: number;
  readonly ignoreNotFound?: boolean;
  readonly dryRun?: 'none' | 'client' | 'server';
  readonly output?: string;
}

interface Target {
  readonly resource: ApiResource;
  readonly namespace: string | undefined;
  readonly name: string;
}

/** The `delete` command. */
export function deleteCommand(deps: VerbDeps): Command {
  return withClientOptions(
    new Command('delete')
      .description('delete objects by file, by type and name, or by type and label selector (kubectl delete)')
      .argument('[resources...]', 'TYPE [NAME…], TYPE/NAME…')
      .option('-f, --filename <file>', 'file, directory, URL or - naming the objects (repeatable)', collect)
      .option('-R, --recursive', 'process directories recursively')
      .option('-l, --selector <selector>', 'delete the objects matching this label selector')
      .option('--all', 'delete every object of the type in the namespace')
      .addOption(
        new Option('--cascade [strategy]', 'background, foreground or orphan dependents')
          .choices(['background', 'foreground', 'orphan', 'true', 'false'])
          .preset('background')
          .default('background'),
      )
      .option(
        '--grace-period <seconds>',
        'seconds given to the object to terminate (-1: its default)',
        parseCount,
        -1,
      )
      .option('--now', 'signal for immediate shutdown (grace period 1)')
      .option('--force', 'with --grace-period=0, delete immediately')
      .addOption(
        new Option('--wait [bool]', 'wait for the objects to be gone (--wait=false returns at once)')
          .argParser(parseBool)
          .preset(true)
          .default(true),
      )
      .option('--timeout <duration>', 'how long to wait (0: no limit)', parseDuration, 0)
      .option('--ignore-not-found', 'treat missing objects as deleted')
      .addOption(
        new Option('--dry-run [strategy]', 'client or server')
          .choices(['none', 'client', 'server'])
          .preset('client')
          .default('none'),
      )
      .option('-o, --output <format>', 'name: print kind/name only'),
  ).action(async (resources: string[], flags: DeleteFlags) => {
    await runVerb(deps, () => runDelete(resources, flags, deps));
  });
}

function propagation(cascade: string | undefined): 'Background' | 'Foreground' | 'Orphan' {
  switch (cascade) {
    case 'foreground':
      return 'Foreground';
    case 'orphan':
    case 'false':
      return 'Orphan';
    default:
      return 'Background';
  }
}

/** Runs `delete`; returns the exit code. */
export async function runDelete(
  args: readonly string[],
  flags: DeleteFlags,
  deps: VerbDeps,
): Promise<number> {
  const files = flags.filename ?? [];
  if (files.length > 0 && args.length > 0)
    throw usageError('when paths are provided (-f), no resource type or name may be given');
  if (files.length === 0 && args.length === 0)
    throw usageError('you must provide one or more resources by argument or filename');
  const session = await deps.connect(flags);
  const client = session.client;
  const mapper = await client.discovery();
  const targets: Target[] = [];
  let failed = false;

  if (files.length > 0) {
    for (const m of await readManifests(files, {
      recursive: flags.recursive === true,
      io: deps.io.manifests,
    })) {
      const r = mapper.byKind(str(m.object['apiVersion']) ?? '', str(m.object['kind']) ?? '');
      if (r === undefined) {
        deps.io.stderr.write(
          `error: no matches for kind "${str(m.object['kind']) ?? ''}" in version "${str(m.object['apiVersion']) ?? ''}"\n`,
        );
        failed = true;
        continue;
      }
      const own = str(at(m.object, 'metadata', 'namespace')) ?? '';
      targets.push({
        resource: r,
        namespace: r.namespaced ? (own === '' ? session.namespace : own) : undefined,
        name: str(at(m.object, 'metadata', 'name')) ?? '',
      });
    }
  } else if ((flags.selector !== undefined || flags.all === true) && !(args[0] ?? '').includes('/')) {
    if (args.length > 1) throw usageError('name cannot be provided when a selector or --all is specified');
    for (const type of (args[0] ?? '').split(',')) {
      const r = resolveResource(mapper, type);
      const list = await client.list(
        r,
        session.namespace,
        flags.selector === undefined ? {} : { labelSelector: flags.selector },
      );
      if (!list.ok) {
        deps.io.stderr.write(formatStatusError(list.status));
        failed = true;
        continue;
      }
      const items = Array.isArray(list.value['items']) ? list.value['items'].filter(isJsonObject) : [];
      for (const item of items) {
        targets.push({
          resource: r,
          namespace: str(at(item, 'metadata', 'namespace')),
          name: str(at(item, 'metadata', 'name')) ?? '',
        });
      }
    }
    if (targets.length === 0 && !failed) {
      deps.io.stdout.write('No resources found\n');
      return 0;
    }
  } else {
    const parsed = parseResourceArgs(mapper, args);
    if (parsed.kind === 'collections') {
      throw usageError(`resource(s) were provided, but no name was specified`);
    }
    for (const { resource, name } of parsed.items)
      targets.push({ resource, namespace: session.namespace, name });
  }

  let grace = flags.gracePeriod ?? -1;
  if (flags.now === true) grace = 1;
  if (flags.force === true && grace < 0) grace = 0;
  if (grace === 0 && flags.force !== true) grace = 1;
  if (flags.force === true && grace === 0) {
    deps.io.stderr.write(
      'Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. ' +
        'The resource may continue to run on the cluster indefinitely.\n',
    );
  }
  const dryRun = flags.dryRun ?? 'none';
  const operation =
    (grace === 0 ? 'force deleted' : 'deleted') +
    (dryRun === 'client' ? ' (dry run)' : dryRun === 'server' ? ' (server dry run)' : '');
  const deleted: { target: Target; uid: string | undefined; resourceVersion: string | undefined }[] = [];
  for (const t of targets) {
    if (dryRun === 'client') {
      report(deps, flags, t, operation);
      continue;
    }
    const res = await client.delete(t.resource, t.namespace, t.name, {
      propagationPolicy: propagation(flags.cascade),
      ...(grace >= 0 ? { gracePeriodSeconds: grace } : {}),
      ...(dryRun === 'server' ? { dryRun: true } : {}),
    });
    if (!res.ok) {
      if (res.status.code === 404 && flags.ignoreNotFound === true) continue;
      deps.io.stderr.write(formatStatusError(res.status));
      failed = true;
      continue;
    }
    report(deps, flags, t, operation);
    const uid = str(at(res.value, 'metadata', 'uid')) ?? str(at(res.value, 'details', 'uid'));
    deleted.push({ target: t, uid, resourceVersion: str(at(res.value, 'metadata', 'resourceVersion')) });
  }
  if (flags.wait !== false && dryRun === 'none' && deleted.length > 0) {
    const abort = new AbortController();
    const timer =
      (flags.timeout ?? 0) > 0
        ? deps.io.clock.setTimer(flags.timeout ?? 0, () => {
            abort.abort();
          })
        : undefined;
    try {
      for (const d of deleted) {
        const gone = await waitGone(client, d.target, d.uid, abort.signal);
        if (!gone) {
          deps.io.stderr.write(
            `error: timed out waiting for the condition on ${d.target.resource.plural}/${d.target.name}\n`,
          );
          failed = true;
        }
      }
    } finally {
      timer?.cancel();
    }
  }
  return failed ? 1 : 0;
}

function report(deps: VerbDeps, flags: DeleteFlags, t: Target, operation: string): void {
  deps.io.stdout.write(
    flags.output === 'name'
      ? `${kindNameOf(t.resource)}/${t.name}\n`
      : `${kindNameOf(t.resource)} "${t.name}" ${operation}\n`,
  );
}

/**
 * Waits until `target` (with `uid`, when known) no longer exists: listed by name, then watched from
 * the list's resourceVersion until a DELETED event or until the name is taken by another UID.
 * Resolves false if `signal` aborts first.
 */
export async function waitGone(
  client: KubeClient,
  target: Target,
  uid: string | undefined,
  signal: AbortSignal,
): Promise<boolean> {
  const fieldSelector = `metadata.name=${target.name}`;
  while (!signal.aborted) {
    const list = await client.list(target.resource, target.namespace, { fieldSelector });
    if (!list.ok) return list.status.code === 404;
    const items = Array.isArray(list.value['items']) ? list.value['items'].filter(isJsonObject) : [];
    const current = items.find((i: JsonObject) => uid === undefined || str(at(i, 'metadata', 'uid')) === uid);
    if (current === undefined) return true;
    const stream = await client.watch(target.resource, target.namespace, {
      fieldSelector,
      resourceVersion: str(at(list.value, 'metadata', 'resourceVersion')) ?? '0',
      signal,
    });
    if (!stream.ok) continue;
    for await (const ev of stream.value) {
      const evUid = str(at(ev.object, 'metadata', 'uid'));
      if (ev.type === 'DELETED' && (uid === undefined || evUid === uid)) return true;
      if (ev.type === 'ERROR') break;
    }
  }
  return false;
}
