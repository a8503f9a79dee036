/**
 * `berth rollout status|history|undo|restart deployment/NAME` (also `deployment NAME`), following
 * kubectl:
 * - status: see ./rollout-status.ts;
 * - history: the Deployment's ReplicaSets by `deployment.kubernetes.io/revision` with their
 *   `kubernetes.io/change-cause`, or one revision's pod template with `--revision`;
 * - undo: a JSON patch replacing the Deployment's template with the chosen ReplicaSet's (minus
 *   `pod-template-hash`) and its annotations with the ReplicaSet's (keeping the Deployment's own
 *   bookkeeping ones), or "skipped rollback" when the template already matches;
 * - restart: a strategic merge patch setting the template annotation
 *   `kubectl.kubernetes.io/restartedAt`.
 */

import { Command, Option } from 'commander';
import { isJsonObject, jsonClone, jsonEqual, type JsonObject } from '../../api/patch/json-value.js';
import { lastAppliedAnnotation } from '../../api/patch/last-applied.js';
import { at, rec, str } from '../../api/table/json.js';
import { selectorString } from '../../api/table/labels.js';
import { orThrow, type KubeClient } from '../client/kube-client.js';
import { kindNameOf, type ApiResource } from '../client/resource-mapper.js';
import { describePodTemplate } from '../printers/describe/describe-pod.js';
import { PrefixWriter } from '../printers/describe/prefix-writer.js';
import { tabbedString } from '../printers/tabwriter.js';
import {
  changeCauseAnnotation,
  deploymentReplicaSets,
  revisionAnnotation,
  revisionOf,
  templateWithoutHash,
} from './deployment-revisions.js';
import { watchRolloutStatus } from './rollout-status.js';
import {
  parseBool,
  parseCount,
  parseDuration,
  parseResourceArgs,
  runVerb,
  usageError,
  withClientOptions,
  type ClientFlags,
  type Session,
  type VerbDeps,
} from './verb-support.js';

/** The annotation `rollout restart` sets on the pod template. */
export const restartedAtAnnotation = 'kubectl.kubernetes.io/restartedAt';

/** Deployment annotations an undo keeps instead of taking the ReplicaSet's (kubectl's `annotationsToSkip`). */
const annotationsToSkip = new Set([
  lastAppliedAnnotation,
  revisionAnnotation,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

/** The `rollout` command group. */
export function rolloutCommand(deps: VerbDeps): Command {
  const group = new Command('rollout')
    .description('manage the rollout of a Deployment (kubectl rollout)')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  group.addCommand(
    withClientOptions(
      new Command('status')
        .description('watch the rollout until it completes')
        .argument('<resource...>', 'deployment/NAME or deployment NAME')
        .option('--timeout <duration>', 'give up after this long (0: never)', parseDuration, 0)
        .addOption(
          new Option('-w, --watch [bool]', 'watch until done (--watch=false: print once)')
            .argParser(parseBool)
            .preset(true)
            .default(true),
        )
        .option('--revision <n>', 'require this revision', parseCount),
    ).action(
      async (args: string[], flags: ClientFlags & { timeout: number; watch: boolean; revision?: number }) => {
        await runVerb(deps, async () => {
          const { session, resource, name } = await target(deps, flags, args);
          orThrow(await session.client.get(resource, session.namespace, name));
          return watchRolloutStatus({
            client: session.client,
            resource,
            namespace: session.namespace,
            name,
            timeoutMs: flags.timeout,
            watch: flags.watch,
            ...(flags.revision === undefined ? {} : { revision: flags.revision }),
            clock: deps.io.clock,
            stdout: deps.io.stdout,
            stderr: deps.io.stderr,
          });
        });
      },
    ),
  );
  group.addCommand(
    withClientOptions(
      new Command('history')
        .description('list the revisions of a Deployment')
        .argument('<resource...>', 'deployment/NAME or deployment NAME')
        .option('--revision <n>', 'show the pod template of this revision', parseCount, 0),
    ).action(async (args: string[], flags: ClientFlags & { revision: number }) => {
      await runVerb(deps, async () => {
        const { session, resource, name } = await target(deps, flags, args);
        deps.io.stdout.write(await history(session, resource, name, flags.revision));
        return 0;
      });
    }),
  );
  group.addCommand(
    withClientOptions(
      new Command('undo')
        .description("roll a Deployment back to a previous revision's pod template")
        .argument('<resource...>', 'deployment/NAME or deployment NAME')
        .option('--to-revision <n>', 'the revision to roll back to (0: the previous one)', parseCount, 0)
        .addOption(
          new Option('--dry-run [strategy]', 'client or server')
            .choices(['none', 'client', 'server'])
            .preset('client')
            .default('none'),
        ),
    ).action(
      async (
        args: string[],
        flags: ClientFlags & { toRevision: number; dryRun: 'none' | 'client' | 'server' },
      ) => {
        await runVerb(deps, async () => {
          const { session, resource, name } = await target(deps, flags, args);
          const result = await undo(session, resource, name, flags.toRevision, flags.dryRun);
          deps.io.stdout.write(`${kindNameOf(resource)}/${name} ${result}\n`);
          return 0;
        });
      },
    ),
  );
  group.addCommand(
    withClientOptions(
      new Command('restart')
        .description('restart the pods of a Deployment by stamping its pod template')
        .argument('<resource...>', 'deployment/NAME or deployment NAME'),
    ).action(async (args: string[], flags: ClientFlags) => {
      await runVerb(deps, async () => {
        const { session, resource, name } = await target(deps, flags, args);
        const d = orThrow(await session.client.get(resource, session.namespace, name));
        if (at(d, 'spec', 'paused') === true)
          throw usageError("can't restart paused deployment (run rollout resume first)");
        const patch = {
          spec: {
            template: {
              metadata: { annotations: { [restartedAtAnnotation]: rfc3339(deps.io.clock.now()) } },
            },
          },
        };
        orThrow(
          await session.client.patch(resource, session.namespace, name, 'strategic', patch, {
            fieldManager: 'kubectl-rollout',
          }),
        );
        deps.io.stdout.write(`${kindNameOf(resource)}/${name} restarted\n`);
        return 0;
      });
    }),
  );
  return group;
}

async function target(
  deps: VerbDeps,
  flags: ClientFlags,
  args: readonly string[],
): Promise<{ session: Session; resource: ApiResource; name: string }> {
  const session = await deps.connect(flags);
  const parsed = parseResourceArgs(await session.client.discovery(), args);
  if (parsed.kind === 'collections') throw usageError('required resource not specified: use deployment/NAME');
  const item = parsed.items[0];
  if (item === undefined || parsed.items.length !== 1) throw usageError('expected exactly one resource');
  if (item.resource.group !== 'apps' || item.resource.kind !== 'Deployment') {
    throw usageError(
      `no rollout support has been implemented for ${kindNameOf(item.resource)} (only deployments)`,
    );
  }
  return { session, resource: item.resource, name: item.name };
}

/** The Deployment and the ReplicaSets its selector matches. */
async function deploymentAndReplicaSets(
  client: KubeClient,
  resource: ApiResource,
  namespace: string,
  name: string,
): Promise<{ deployment: JsonObject; replicaSets: JsonObject[] }> {
  const deployment = orThrow(await client.get(resource, namespace, name));
  const mapper = await client.discovery();
  const rsResource = mapper.byKind('apps/v1', 'ReplicaSet');
  if (rsResource === undefined) throw usageError('the server does not serve apps/v1 ReplicaSets');
  const list = orThrow(
    await client.list(rsResource, namespace, {
      labelSelector: selectorString(at(deployment, 'spec', 'selector')),
    }),
  );
  const items = Array.isArray(list['items']) ? list['items'].filter(isJsonObject) : [];
  return { deployment, replicaSets: items };
}

async function history(
  session: Session,
  resource: ApiResource,
  name: string,
  revision: number,
): Promise<string> {
  const { deployment, replicaSets } = await deploymentAndReplicaSets(
    session.client,
    resource,
    session.namespace,
    name,
  );
  const revisions = new Map<number, JsonObject>();
  for (const rs of deploymentReplicaSets(deployment, replicaSets).all) {
    const rev = revisionOf(rs);
    if (rev !== undefined) revisions.set(rev, rs);
  }
  const head = `${kindNameOf(resource)}/${name}`;
  if (revisions.size === 0) return `${head} \nNo rollout history found.\n`;
  if (revision > 0) {
    const rs = revisions.get(revision);
    if (rs === undefined) throw usageError('unable to find the specified revision');
    return `${head} with revision #${revision}\n${podTemplateText(templateWithChangeCause(rs))}\n`;
  }
  let table = 'REVISION\tCHANGE-CAUSE\n';
  for (const rev of [...revisions.keys()].sort((a, b) => a - b)) {
    const cause = str(at(revisions.get(rev), 'metadata', 'annotations', changeCauseAnnotation)) ?? '';
    table += `${rev}\t${cause === '' ? '<none>' : cause}\n`;
  }
  return `${head} \n${tabbedString(table)}\n`;
}

/** The ReplicaSet's template, carrying its change-cause annotation as kubectl shows it. */
function templateWithChangeCause(rs: JsonObject): JsonObject {
  const t = at(rs, 'spec', 'template');
  const template = isJsonObject(t) ? jsonClone(t) : {};
  const cause = str(at(rs, 'metadata', 'annotations', changeCauseAnnotation)) ?? '';
  if (cause !== '') {
    const meta = isJsonObject(template['metadata']) ? template['metadata'] : {};
    template['metadata'] = meta;
    const annotations = isJsonObject(meta['annotations']) ? meta['annotations'] : {};
    annotations[changeCauseAnnotation] = cause;
    meta['annotations'] = annotations;
  }
  return template;
}

/** kubectl's `printTemplate`: `DescribePodTemplate` through an unaligned PrefixWriter. */
function podTemplateText(template: JsonObject): string {
  const w = new PrefixWriter({ aligned: false });
  describePodTemplate(w, template, { now: 0 });
  return w.text();
}

async function undo(
  session: Session,
  resource: ApiResource,
  name: string,
  toRevision: number,
  dryRun: 'none' | 'client' | 'server',
): Promise<string> {
  if (toRevision < 0) throw usageError(`unable to find specified revision ${toRevision} in history`);
  const { deployment, replicaSets } = await deploymentAndReplicaSets(
    session.client,
    resource,
    session.namespace,
    name,
  );
  const all = deploymentReplicaSets(deployment, replicaSets).all;
  let chosen: JsonObject | undefined;
  if (toRevision > 0) {
    chosen = all.find((rs) => revisionOf(rs) === toRevision);
    if (chosen === undefined) throw usageError(`unable to find specified revision ${toRevision} in history`);
  } else {
    const ordered = all
      .filter((rs) => revisionOf(rs) !== undefined)
      .sort((a, b) => (revisionOf(b) ?? 0) - (revisionOf(a) ?? 0));
    chosen = ordered[1];
    if (chosen === undefined) throw usageError(`no rollout history found for deployment "${name}"`);
  }
  const template = templateWithoutHash(at(chosen, 'spec', 'template'));
  if (dryRun === 'client') return podTemplateText(template);
  if (at(deployment, 'spec', 'paused') === true) {
    throw usageError(
      `you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/${name}' and try again`,
    );
  }
  if (jsonEqual(template, templateWithoutHash(at(deployment, 'spec', 'template')))) {
    return `skipped rollback (current template already matches revision ${toRevision})`;
  }
  const annotations: JsonObject = {};
  const own = rec(at(deployment, 'metadata', 'annotations')) ?? {};
  for (const [k, val] of Object.entries(own))
    if (annotationsToSkip.has(k) && typeof val === 'string') annotations[k] = val;
  for (const [k, val] of Object.entries(rec(at(chosen, 'metadata', 'annotations')) ?? {})) {
    if (!annotationsToSkip.has(k) && typeof val === 'string') annotations[k] = val;
  }
  // kubectl replaces /metadata/annotations; "add" does the same and also works when there are none.
  const patch: JsonObject[] = [
    { op: 'replace', path: '/spec/template', value: template },
    {
      op: isJsonObject(at(deployment, 'metadata', 'annotations')) ? 'replace' : 'add',
      path: '/metadata/annotations',
      value: annotations,
    },
  ];
  orThrow(
    await session.client.patch(
      resource,
      session.namespace,
      name,
      'json',
      patch,
      dryRun === 'server' ? { dryRun: true } : {},
    ),
  );
  return 'rolled back';
}

/** Go's `time.RFC3339` in the local zone (`2026-01-02T15:04:05+01:00`, `Z` for UTC). */
export function rfc3339(ms: number, utcOffsetMinutes = -new Date(ms).getTimezoneOffset()): string {
  const d = new Date(ms + utcOffsetMinutes * 60_000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const abs = Math.abs(utcOffsetMinutes);
  const zone =
    utcOffsetMinutes === 0
      ? 'Z'
      : `${utcOffsetMinutes < 0 ? '-' : '+'}${pad(Math.trunc(abs / 60))}:${pad(abs % 60)}`;
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${zone}`
  );
}
