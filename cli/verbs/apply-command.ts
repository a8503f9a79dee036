/**
 * `berth apply -f`: kubectl's apply, object by object, continuing past failures and exiting 1 if
 * any failed.
 *
 * Client-side (default), as kubectl does it:
 *   GET ──404──▶ POST manifest + last-applied annotation                      → "created"
 *    └─200──▶ three-way strategic merge patch(last-applied, manifest, live)
 *               ├─ {} ─────────────────────────────────────────────────────→ "unchanged"
 *               └─ PATCH (re-GET and recompute on 409, up to 5 times)      → "configured"
 * Server-side (`--server-side`): one PATCH `application/apply-patch+yaml` with `fieldManager`
 * (default `kubectl`) and `force` → "serverside-applied".
 * `--dry-run=client` sends no writes; `--dry-run=server` sends them with `dryRun=All`.
 */

import { Command, Option } from 'commander';
import { schemaForKind } from '../../api/patch/patch-meta.js';
import { isJsonObject, type JsonObject } from '../../api/patch/json-value.js';
import { at, str } from '../../api/table/json.js';
import type { Status } from '../../api/status.js';
import { modifiedConfiguration, originalConfiguration } from '../apply/apply-configuration.js';
import { createThreeWayMergePatch } from '../apply/three-way-merge-patch.js';
import { formatStatusError, withSource } from '../client/error-message.js';
import type { ApiResult, KubeClient, WriteOptions } from '../client/kube-client.js';
import { readManifests, type ManifestObject } from '../client/manifest-reader.js';
import { kindNameOf, type ApiResource, type ResourceMapper } from '../client/resource-mapper.js';
import { formatObject, listOf } from '../printers/object-printer.js';
import {
  collect,
  runVerb,
  usageError,
  withClientOptions,
  type ClientFlags,
  type Session,
  type VerbDeps,
} from './verb-support.js';

/** `apply` flags. */
export interface ApplyFlags extends ClientFlags {
  readonly filename?: readonly string[];
  readonly recursive?: boolean;
  readonly serverSide?: boolean;
  readonly fieldManager?: string;
  readonly forceConflicts?: boolean;
  readonly dryRun?: 'none' | 'client' | 'server';
  readonly output?: string;
  readonly validate?: string;
}

const maxPatchRetries = 5;

const conflictHelp = `Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the \`--force-conflicts\` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts
`;

/** The `apply` command. */
export function applyCommand(deps: VerbDeps): Command {
  return withClientOptions(
    new Command('apply')
      .description('create or update objects from files, directories, URLs or stdin (kubectl apply)')
      .option('-f, --filename <file>', 'file, directory, http(s) URL or - for stdin (repeatable)', collect)
      .option('-R, --recursive', 'process directories recursively')
      .option('--server-side', 'apply on the server (field ownership) instead of the three-way client merge')
      .option(
        '--field-manager <name>',
        'field manager name (default: kubectl-client-side-apply, or kubectl with --server-side)',
      )
      .option('--force-conflicts', 'with --server-side, take over fields other managers own')
      .addOption(
        new Option(
          '--dry-run [strategy]',
          'client: only print; server: let the server validate without persisting',
        )
          .choices(['none', 'client', 'server'])
          .preset('client')
          .default('none'),
      )
      .option('-o, --output <format>', 'output format: name, json or yaml')
      .addOption(
        new Option('--validate <mode>', 'field validation on the server')
          .choices(['strict', 'true', 'warn', 'ignore', 'false'])
          .default('strict'),
      ),
  ).action(async (flags: ApplyFlags) => {
    await runVerb(deps, () => runApply(flags, deps));
  });
}

type Outcome = { readonly op: string; readonly object: JsonObject } | { readonly error: string };

/** Runs `apply`; returns the exit code. */
export async function runApply(flags: ApplyFlags, deps: VerbDeps): Promise<number> {
  const files = flags.filename ?? [];
  if (files.length === 0) throw usageError('must specify one of -f and -k');
  if (flags.output !== undefined && !['name', 'json', 'yaml'].includes(flags.output)) {
    throw usageError(
      `unable to match a printer suitable for the output format "${flags.output}", allowed formats are: json,name,yaml`,
    );
  }
  const manifests = await readManifests(files, {
    recursive: flags.recursive === true,
    io: deps.io.manifests,
  });
  if (manifests.length === 0) throw usageError('no objects passed to apply');
  const session = await deps.connect(flags);
  const mapper = await session.client.discovery();
  const dryRun = flags.dryRun ?? 'none';
  const suffix = dryRun === 'client' ? ' (dry run)' : dryRun === 'server' ? ' (server dry run)' : '';
  const applied: JsonObject[] = [];
  let failed = false;
  for (const manifest of manifests) {
    let outcome: Outcome;
    try {
      outcome = await applyOne(manifest, { session, mapper, flags });
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      outcome = { error: `error: ${err.message}\n` };
    }
    if ('error' in outcome) {
      deps.io.stderr.write(outcome.error);
      failed = true;
      continue;
    }
    const name = `${kindNameOf(resourceOf(mapper, manifest.object))}/${str(at(outcome.object, 'metadata', 'name')) ?? ''}`;
    if (flags.output === 'name') deps.io.stdout.write(`${name}\n`);
    else if (flags.output === undefined) deps.io.stdout.write(`${name} ${outcome.op}${suffix}\n`);
    applied.push(outcome.object);
  }
  if (flags.output === 'json' || flags.output === 'yaml') {
    const first = applied[0];
    const doc = applied.length === 1 && first !== undefined ? first : listOf(applied);
    deps.io.stdout.write(formatObject(doc, flags.output));
  }
  return failed ? 1 : 0;
}

interface ApplyContext {
  readonly session: Session;
  readonly mapper: ResourceMapper;
  readonly flags: ApplyFlags;
}

function resourceOf(mapper: ResourceMapper, obj: JsonObject): ApiResource {
  const apiVersion = str(obj['apiVersion']) ?? '';
  const kind = str(obj['kind']) ?? '';
  const r = mapper.byKind(apiVersion, kind);
  if (r === undefined) {
    throw usageError(
      `resource mapping not found for name: "${str(at(obj, 'metadata', 'name')) ?? ''}" namespace: ` +
        `"${str(at(obj, 'metadata', 'namespace')) ?? ''}": no matches for kind "${kind}" in version "${apiVersion}"`,
    );
  }
  return r;
}

function fieldValidation(mode: string | undefined): 'Strict' | 'Warn' | 'Ignore' {
  if (mode === 'warn') return 'Warn';
  if (mode === 'ignore' || mode === 'false') return 'Ignore';
  return 'Strict';
}

async function applyOne(manifest: ManifestObject, ctx: ApplyContext): Promise<Outcome> {
  const { session, flags } = ctx;
  const r = resourceOf(ctx.mapper, manifest.object);
  const obj: JsonObject = { ...manifest.object };
  const meta = isJsonObject(obj['metadata']) ? { ...obj['metadata'] } : {};
  obj['metadata'] = meta;
  const name = str(meta['name']) ?? '';
  let namespace: string | undefined;
  if (r.namespaced) {
    const own = str(meta['namespace']) ?? '';
    if (own !== '' && session.explicitNamespace && own !== session.namespace) {
      throw usageError(
        `the namespace from the provided object "${own}" does not match the namespace "${session.namespace}". ` +
          `You must pass '--namespace=${own}' to perform this operation.`,
      );
    }
    namespace = own === '' ? session.namespace : own;
    meta['namespace'] = namespace;
  }
  if (name === '') {
    throw usageError(
      `error when retrieving current configuration from server for: "${manifest.source}": resource name may not be empty`,
    );
  }
  const dryRun = flags.dryRun ?? 'none';
  const write: WriteOptions = {
    ...(dryRun === 'server' ? { dryRun: true } : {}),
    fieldValidation: fieldValidation(flags.validate),
  };
  const client = session.client;
  const fail = (status: Status, verb: string): Outcome => ({
    error: formatStatusError(withSource(status, verb, manifest.source)),
  });

  if (flags.serverSide === true) {
    if (dryRun === 'client') return { op: 'serverside-applied', object: obj };
    const res = await client.patch(r, namespace, name, 'apply', obj, {
      ...write,
      fieldManager: flags.fieldManager ?? 'kubectl',
      force: flags.forceConflicts === true,
    });
    if (res.ok) return { op: 'serverside-applied', object: res.value };
    if (res.status.reason === 'Conflict') return { error: `error: ${res.status.message}\n${conflictHelp}` };
    return fail(res.status, 'patching');
  }

  const modified = modifiedConfiguration(obj).object;
  const opts: WriteOptions = { ...write, fieldManager: flags.fieldManager ?? 'kubectl-client-side-apply' };
  let live = await client.get(r, namespace, name);
  if (!live.ok && live.status.code === 404) {
    if (dryRun === 'client') return { op: 'created', object: modified };
    const created = await client.create(r, namespace, modified, opts);
    return created.ok ? { op: 'created', object: created.value } : fail(created.status, 'creating');
  }
  for (let attempt = 1; ; attempt++) {
    if (!live.ok) return fail(live.status, 'retrieving current configuration of');
    const outcome = await patchOnce(client, r, namespace, name, { modified, live: live.value, opts, dryRun });
    if (!('conflict' in outcome))
      return outcome.result.ok
        ? { op: outcome.op, object: outcome.result.value }
        : fail(outcome.result.status, 'patching');
    if (attempt >= maxPatchRetries) return fail(outcome.conflict, 'patching');
    live = await client.get(r, namespace, name);
  }
}

async function patchOnce(
  client: KubeClient,
  r: ApiResource,
  namespace: string | undefined,
  name: string,
  p: { modified: JsonObject; live: JsonObject; opts: WriteOptions; dryRun: string },
): Promise<{ op: string; result: ApiResult<JsonObject> } | { conflict: Status }> {
  const schema = schemaForKind({
    apiVersion: str(p.modified['apiVersion']) ?? '',
    kind: str(p.modified['kind']) ?? '',
  });
  const patch = createThreeWayMergePatch(originalConfiguration(p.live), p.modified, p.live, schema);
  if (!patch.ok) {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: patch.message,
      reason: patch.reason,
      code: 400,
    };
    return { op: 'configured', result: { ok: false, status } };
  }
  if (Object.keys(patch.value).length === 0) return { op: 'unchanged', result: { ok: true, value: p.live } };
  if (p.dryRun === 'client') return { op: 'configured', result: { ok: true, value: p.modified } };
  // Kinds without Go types get a JSON merge patch from kubectl; the same diff is one when no list merges.
  const res = await client.patch(
    r,
    namespace,
    name,
    schema === undefined ? 'merge' : 'strategic',
    patch.value,
    p.opts,
  );
  if (!res.ok && res.status.code === 409 && res.status.reason === 'Conflict') return { conflict: res.status };
  return { op: 'configured', result: res };
}
