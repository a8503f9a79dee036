/**
 * `berth scale TYPE/NAME --replicas=N` (or `TYPE NAME…`): kubectl's scale — GET the object, then a
 * merge patch `{"spec":{"replicas":N}}` on its `scale` subresource, with `--current-replicas` and
 * `--resource-version` as preconditions checked on the Scale first.
 */

import { Command } from 'commander';
import { at, num, str } from '../../api/table/json.js';
import { formatStatusError } from '../client/error-message.js';
import { groupResourceOf, kindNameOf } from '../client/resource-mapper.js';
import {
  parseCount,
  parseResourceArgs,
  runVerb,
  usageError,
  withClientOptions,
  type ClientFlags,
  type VerbDeps,
} from './verb-support.js';

/** `scale` flags. */
export interface ScaleFlags extends ClientFlags {
  readonly replicas?: number;
  readonly currentReplicas?: number;
  readonly resourceVersion?: string;
}

/** The `scale` command. */
export function scaleCommand(deps: VerbDeps): Command {
  return withClientOptions(
    new Command('scale')
      .description(
        'set the replica count of a Deployment or ReplicaSet through its scale subresource (kubectl scale)',
      )
      .argument('<resources...>', 'TYPE/NAME… or TYPE NAME…')
      .requiredOption('--replicas <n>', 'the new desired number of replicas', parseCount)
      .option(
        '--current-replicas <n>',
        'precondition: only scale if the current replicas equal this',
        parseCount,
      )
      .option('--resource-version <rv>', 'precondition: only scale if the resource version matches'),
  ).action(async (resources: string[], flags: ScaleFlags) => {
    await runVerb(deps, () => runScale(resources, flags, deps));
  });
}

/** Runs `scale`; returns the exit code. */
export async function runScale(args: readonly string[], flags: ScaleFlags, deps: VerbDeps): Promise<number> {
  const replicas = flags.replicas ?? -1;
  if (replicas < 0)
    throw usageError('The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0');
  const session = await deps.connect(flags);
  const client = session.client;
  const parsed = parseResourceArgs(await client.discovery(), args);
  if (parsed.kind === 'collections') throw usageError('resource(s) were provided, but no name was specified');
  let failed = false;
  for (const { resource, name } of parsed.items) {
    if (!resource.subresources.includes('scale')) {
      deps.io.stderr.write(`error: no scaler has been implemented for ${groupResourceOf(resource)}\n`);
      failed = true;
      continue;
    }
    const obj = await client.get(resource, session.namespace, name);
    if (!obj.ok) {
      deps.io.stderr.write(formatStatusError(obj.status));
      failed = true;
      continue;
    }
    if (flags.currentReplicas !== undefined || flags.resourceVersion !== undefined) {
      const scale = await client.get(resource, session.namespace, name, { subresource: 'scale' });
      if (!scale.ok) {
        deps.io.stderr.write(formatStatusError(scale.status));
        failed = true;
        continue;
      }
      const current = num(at(scale.value, 'spec', 'replicas')) ?? 0;
      if (flags.currentReplicas !== undefined && flags.currentReplicas !== current) {
        deps.io.stderr.write(`error: Expected replicas to be ${flags.currentReplicas}, was ${current}\n`);
        failed = true;
        continue;
      }
      const rv = str(at(scale.value, 'metadata', 'resourceVersion'));
      if (flags.resourceVersion !== undefined && flags.resourceVersion !== rv) {
        deps.io.stderr.write(
          `error: Expected resource version to be ${flags.resourceVersion}, was ${rv ?? ''}\n`,
        );
        failed = true;
        continue;
      }
    }
    const res = await client.patch(
      resource,
      session.namespace,
      name,
      'merge',
      { spec: { replicas } },
      { subresource: 'scale' },
    );
    if (!res.ok) {
      deps.io.stderr.write(formatStatusError(res.status));
      failed = true;
      continue;
    }
    deps.io.stdout.write(`${kindNameOf(resource)}/${name} scaled\n`);
  }
  return failed ? 1 : 0;
}
