/**
 * `berth get`: kubectl's get. Human output asks the server for a `meta.k8s.io` Table (kubectl's
 * Accept header) and prints it with kubectl's column layout; `-o json|yaml|name` fetch plain
 * objects. `-w` prints the current state, then follows a watch from its resourceVersion (one
 * resource type only), with `--output-watch-events` adding the event type.
 *
 * Flow of a watch:   list/get ──print──▶ watch(rv) ──event──▶ print ──…──▶ stream closed ─▶ exit 0
 */

import { Command } from 'commander';
import { isJsonObject, type JsonObject } from '../../api/patch/json-value.js';
import { at, str } from '../../api/table/json.js';
import type { Status } from '../../api/status.js';
import { formatStatusError } from '../client/error-message.js';
import type { KubeClient } from '../client/kube-client.js';
import { apiVersionOf, kindNameOf, type ApiResource } from '../client/resource-mapper.js';
import { formatObject, listOf, withoutManagedFields, type ObjectFormat } from '../printers/object-printer.js';
import { TablePrinter } from '../printers/table-printer.js';
import { getTabWriterOptions, TabWriter } from '../printers/tabwriter.js';
import {
  parseResourceArgs,
  runVerb,
  usageError,
  withClientOptions,
  type ClientFlags,
  type ResourceArgs,
  type VerbDeps,
} from './verb-support.js';

/** `get` flags. */
export interface GetFlags extends ClientFlags {
  readonly output?: string;
  readonly watch?: boolean;
  readonly outputWatchEvents?: boolean;
  readonly selector?: string;
  readonly fieldSelector?: string;
  readonly allNamespaces?: boolean;
  readonly showLabels?: boolean;
  readonly noHeaders?: boolean;
  readonly ignoreNotFound?: boolean;
  readonly showManagedFields?: boolean;
}

type Format = 'table' | 'wide' | 'name' | ObjectFormat;

function outputFormat(output: string | undefined): Format {
  switch (output ?? '') {
    case '':
      return 'table';
    case 'wide':
    case 'name':
    case 'json':
    case 'yaml':
      return output as Format;
    default:
      throw usageError(
        `unable to match a printer suitable for the output format "${output ?? ''}", allowed formats are: json,name,wide,yaml`,
      );
  }
}

/** The `get` command. */
export function getCommand(deps: VerbDeps): Command {
  return withClientOptions(
    new Command('get')
      .description('display one or many resources (kubectl get)')
      .argument('[resources...]', 'TYPE[,TYPE…] [NAME…] or TYPE/NAME…')
      .option('-o, --output <format>', 'output format: wide, yaml, json or name')
      .option('-w, --watch', 'after listing, watch for changes')
      .option('--output-watch-events', 'with --watch, print the event type (ADDED, MODIFIED, DELETED)')
      .option('-l, --selector <selector>', 'label selector (e.g. app=web,tier!=db)')
      .option('--field-selector <selector>', 'field selector (e.g. metadata.name=web)')
      .option('-A, --all-namespaces', 'list across all namespaces')
      .option('--show-labels', 'add a LABELS column')
      .option('--no-headers', 'do not print column headers')
      .option('--ignore-not-found', 'do not report missing named objects as errors')
      .option('--show-managed-fields', 'keep metadata.managedFields in json/yaml output'),
  ).action(async (resources: string[], flags: GetFlags & { headers?: boolean }) => {
    await runVerb(deps, () => runGet(resources, { ...flags, noHeaders: flags.headers === false }, deps));
  });
}

/** Runs `get`; returns the exit code. */
export async function runGet(args: readonly string[], flags: GetFlags, deps: VerbDeps): Promise<number> {
  const format = outputFormat(flags.output);
  if (args.length === 0) {
    throw usageError('you must specify the type of resource to get (for example: berth get pods)');
  }
  const session = await deps.connect(flags);
  const mapper = await session.client.discovery();
  const parsed = parseResourceArgs(mapper, args);
  const namespace = flags.allNamespaces === true ? undefined : session.namespace;
  const ctx: GetContext = { client: session.client, flags, deps, namespace, format };
  if (flags.watch === true || flags.outputWatchEvents === true) return watch(parsed, ctx);
  return format === 'table' || format === 'wide' ? printTables(parsed, ctx) : printObjects(parsed, ctx);
}

interface GetContext {
  readonly client: KubeClient;
  readonly flags: GetFlags;
  readonly deps: VerbDeps;
  readonly namespace: string | undefined;
  readonly format: Format;
}

function listOptions(
  flags: GetFlags,
  table: boolean,
): { labelSelector?: string; fieldSelector?: string; table: boolean } {
  return {
    ...(flags.selector === undefined ? {} : { labelSelector: flags.selector }),
    ...(flags.fieldSelector === undefined ? {} : { fieldSelector: flags.fieldSelector }),
    table,
  };
}

function tablePrinter(ctx: GetContext, tw: TabWriter, r: ApiResource, withKind: boolean): TablePrinter {
  return new TablePrinter(tw, {
    wide: ctx.format === 'wide',
    withNamespace: ctx.namespace === undefined && r.namespaced,
    ...(withKind ? { kindPrefix: kindNameOf(r) } : {}),
    noHeaders: ctx.flags.noHeaders === true,
    showLabels: ctx.flags.showLabels === true,
  });
}

function noResources(ctx: GetContext, resources: readonly ApiResource[]): void {
  const namespaced = resources.every((r) => r.namespaced);
  ctx.deps.io.stderr.write(
    namespaced && ctx.namespace !== undefined
      ? `No resources found in ${ctx.namespace} namespace.\n`
      : 'No resources found\n',
  );
}

async function printTables(parsed: ResourceArgs, ctx: GetContext): Promise<number> {
  const out = ctx.deps.io.stdout;
  const tw = new TabWriter((s) => {
    out.write(s);
  }, getTabWriterOptions);
  const errors: string[] = [];
  let rows = 0;
  if (parsed.kind === 'collections') {
    const withKind = parsed.resources.length > 1;
    for (const r of parsed.resources) {
      const res = await ctx.client.list(r, ctx.namespace, listOptions(ctx.flags, true));
      if (!res.ok) {
        errors.push(formatStatusError(res.status));
        continue;
      }
      tw.flush();
      tw.resetRememberedWidths();
      if (rows > 0 && ctx.flags.noHeaders !== true && tableRows(res.value) > 0) out.write('\n');
      rows += tablePrinter(ctx, tw, r, withKind).print(res.value);
    }
  } else {
    const kinds = new Set(parsed.items.map((i) => i.resource));
    const printers = new Map<ApiResource, TablePrinter>();
    for (const { resource, name } of parsed.items) {
      const res = await ctx.client.get(resource, ctx.namespace ?? '', name, { table: true });
      if (!res.ok) {
        if (!(ctx.flags.ignoreNotFound === true && res.status.code === 404))
          errors.push(formatStatusError(res.status));
        continue;
      }
      let printer = printers.get(resource);
      if (printer === undefined) {
        tw.flush();
        tw.resetRememberedWidths();
        if (rows > 0 && ctx.flags.noHeaders !== true) out.write('\n');
        printer = tablePrinter(ctx, tw, resource, kinds.size > 1);
        printers.set(resource, printer);
      }
      rows += printer.print(res.value);
    }
  }
  tw.flush();
  for (const e of errors) ctx.deps.io.stderr.write(e);
  if (rows === 0 && errors.length === 0 && ctx.flags.ignoreNotFound !== true) {
    noResources(ctx, parsed.kind === 'collections' ? parsed.resources : parsed.items.map((i) => i.resource));
  }
  return errors.length > 0 ? 1 : 0;
}

function tableRows(table: JsonObject): number {
  return Array.isArray(table['rows']) ? table['rows'].length : 0;
}

/** Objects with kind and apiVersion (list items lack them). */
function withTypeMeta(r: ApiResource, obj: JsonObject): JsonObject {
  return { apiVersion: apiVersionOf(r), kind: r.kind, ...obj };
}

async function printObjects(parsed: ResourceArgs, ctx: GetContext): Promise<number> {
  const objects: { resource: ApiResource; object: JsonObject }[] = [];
  const errors: string[] = [];
  if (parsed.kind === 'collections') {
    for (const r of parsed.resources) {
      const res = await ctx.client.list(r, ctx.namespace, listOptions(ctx.flags, false));
      if (!res.ok) {
        errors.push(formatStatusError(res.status));
        continue;
      }
      const items = Array.isArray(res.value['items']) ? res.value['items'].filter(isJsonObject) : [];
      for (const item of items) objects.push({ resource: r, object: withTypeMeta(r, item) });
    }
  } else {
    for (const { resource, name } of parsed.items) {
      const res = await ctx.client.get(resource, ctx.namespace ?? '', name);
      if (res.ok) objects.push({ resource, object: res.value });
      else if (!(ctx.flags.ignoreNotFound === true && res.status.code === 404))
        errors.push(formatStatusError(res.status));
    }
  }
  const out = ctx.deps.io.stdout;
  if (ctx.format === 'name') {
    for (const { resource, object } of objects)
      out.write(`${kindNameOf(resource)}/${str(at(object, 'metadata', 'name')) ?? ''}\n`);
  } else if (ctx.format === 'json' || ctx.format === 'yaml') {
    const single = parsed.kind === 'names' && parsed.items.length === 1;
    const strip = (o: JsonObject): JsonObject =>
      ctx.flags.showManagedFields === true ? o : withoutManagedFields(o);
    const first = objects[0];
    if (single && first !== undefined) out.write(formatObject(strip(first.object), ctx.format));
    else if (!single || errors.length === 0)
      out.write(formatObject(strip(listOf(objects.map((o) => o.object))), ctx.format));
  }
  for (const e of errors) ctx.deps.io.stderr.write(e);
  return errors.length > 0 ? 1 : 0;
}

async function watch(parsed: ResourceArgs, ctx: GetContext): Promise<number> {
  const resources = parsed.kind === 'collections' ? parsed.resources : parsed.items.map((i) => i.resource);
  if (resources.length !== 1 || (parsed.kind === 'names' && parsed.items.length !== 1)) {
    throw usageError(
      `watch is only supported on individual resources and resource collections, but ${parsed.kind === 'names' ? parsed.items.length : resources.length} resources were found`,
    );
  }
  const r = resources[0];
  if (r === undefined) return 1;
  const human = ctx.format === 'table' || ctx.format === 'wide';
  const out = ctx.deps.io.stdout;
  const tw = new TabWriter((s) => {
    out.write(s);
  }, getTabWriterOptions);
  const printer = tablePrinter(ctx, tw, r, false);
  const events = ctx.flags.outputWatchEvents === true;
  const emit = (obj: JsonObject, type: string): void => {
    if (human) {
      printer.print(obj, events ? type : undefined);
      tw.flush();
      return;
    }
    const o = ctx.flags.showManagedFields === true ? obj : withoutManagedFields(obj);
    if (ctx.format === 'name') out.write(`${kindNameOf(r)}/${str(at(obj, 'metadata', 'name')) ?? ''}\n`);
    else out.write(formatObject(events ? { type, object: o } : o, ctx.format));
  };

  let resourceVersion: string;
  let fieldSelector = ctx.flags.fieldSelector;
  if (parsed.kind === 'names') {
    const name = parsed.items[0]?.name ?? '';
    const res = await ctx.client.get(r, ctx.namespace ?? '', name, { table: human });
    if (!res.ok) {
      ctx.deps.io.stderr.write(formatStatusError(res.status));
      return 1;
    }
    emit(res.value, 'ADDED');
    const rows = Array.isArray(res.value['rows']) ? res.value['rows'] : [];
    const meta = human ? at(rows[0], 'object', 'metadata') : res.value['metadata'];
    resourceVersion = str(at(meta, 'resourceVersion')) ?? '0';
    fieldSelector = `metadata.name=${name}`;
  } else {
    const res = await ctx.client.list(r, ctx.namespace, listOptions(ctx.flags, human));
    if (!res.ok) {
      ctx.deps.io.stderr.write(formatStatusError(res.status));
      return 1;
    }
    if (human) {
      emit(res.value, 'ADDED');
    } else {
      const items = Array.isArray(res.value['items']) ? res.value['items'].filter(isJsonObject) : [];
      for (const item of items) emit(withTypeMeta(r, item), 'ADDED');
    }
    resourceVersion = str(at(res.value, 'metadata', 'resourceVersion')) ?? '0';
  }
  const stream = await ctx.client.watch(r, ctx.namespace, {
    ...listOptions({ ...ctx.flags, ...(fieldSelector === undefined ? {} : { fieldSelector }) }, human),
    resourceVersion,
  });
  if (!stream.ok) {
    ctx.deps.io.stderr.write(formatStatusError(stream.status));
    return 1;
  }
  for await (const ev of stream.value) {
    if (ev.type === 'BOOKMARK') continue;
    if (ev.type === 'ERROR') {
      ctx.deps.io.stderr.write(formatStatusError(ev.object as unknown as Status));
      return 1;
    }
    emit(human ? ev.object : withTypeMeta(r, ev.object), ev.type);
  }
  return 0;
}
