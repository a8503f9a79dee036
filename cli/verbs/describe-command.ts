/**
 * `berth describe TYPE NAME…` (also `TYPE/NAME`, `TYPE` for every object in the namespace, `-l`):
 * fetches the object and what its kubectl describer shows beside it — its Events (listed with
 * kubectl's `involvedObject.*` field selector), a Deployment's ReplicaSets, a ReplicaSet's pods, a
 * Node's pods and Lease, a Service's Endpoints — and prints the kubectl layout from
 * ../printers/describe/. Several objects are separated by a blank line, as in kubectl.
 */

import { Command, Option } from 'commander';
import { isJsonObject, type JsonObject } from '../../api/patch/json-value.js';
import { selectorString } from '../../api/table/labels.js';
import { at, str } from '../../api/table/json.js';
import { formatStatusError } from '../client/error-message.js';
import type { KubeClient } from '../client/kube-client.js';
import type { ApiResource, ResourceMapper } from '../client/resource-mapper.js';
import {
  describeNamespace,
  describeNode,
  describeService,
  type NodeRelated,
} from '../printers/describe/describe-cluster.js';
import { describeConfigMap } from '../printers/describe/describe-configmap.js';
import { describeGeneric } from '../printers/describe/describe-generic.js';
import { describePod } from '../printers/describe/describe-pod.js';
import { describeDeployment, describeReplicaSet } from '../printers/describe/describe-workloads.js';
import type { DescribeContext } from '../printers/describe/prefix-writer.js';
import {
  parseBool,
  parseResourceArgs,
  runVerb,
  withClientOptions,
  type ClientFlags,
  type VerbDeps,
} from './verb-support.js';

/** `describe` flags. */
export interface DescribeFlags extends ClientFlags {
  readonly selector?: string;
  readonly allNamespaces?: boolean;
  readonly showEvents?: boolean;
}

/** The `describe` command. */
export function describeCommand(deps: VerbDeps): Command {
  return withClientOptions(
    new Command('describe')
      .description('show details of objects and their events (kubectl describe)')
      .argument('<resources...>', 'TYPE [NAME…] or TYPE/NAME…')
      .option('-l, --selector <selector>', 'describe the objects matching this label selector')
      .option('-A, --all-namespaces', 'across all namespaces')
      .addOption(
        new Option('--show-events [bool]', 'include events (--show-events=false to leave them out)')
          .argParser(parseBool)
          .preset(true)
          .default(true),
      ),
  ).action(async (resources: string[], flags: DescribeFlags) => {
    await runVerb(deps, () => runDescribe(resources, flags, deps));
  });
}

/** Runs `describe`; returns the exit code. */
export async function runDescribe(
  args: readonly string[],
  flags: DescribeFlags,
  deps: VerbDeps,
): Promise<number> {
  const session = await deps.connect(flags);
  const client = session.client;
  const mapper = await client.discovery();
  const parsed = parseResourceArgs(mapper, args);
  const namespace = flags.allNamespaces === true ? undefined : session.namespace;
  const objects: { resource: ApiResource; object: JsonObject }[] = [];
  let failed = false;
  if (parsed.kind === 'names') {
    for (const { resource, name } of parsed.items) {
      const res = await client.get(resource, namespace ?? session.namespace, name);
      if (res.ok) objects.push({ resource, object: res.value });
      else {
        deps.io.stderr.write(formatStatusError(res.status));
        failed = true;
      }
    }
  } else {
    for (const resource of parsed.resources) {
      const res = await client.list(
        resource,
        namespace,
        flags.selector === undefined ? {} : { labelSelector: flags.selector },
      );
      if (!res.ok) {
        deps.io.stderr.write(formatStatusError(res.status));
        failed = true;
        continue;
      }
      const items = Array.isArray(res.value['items']) ? res.value['items'].filter(isJsonObject) : [];
      for (const item of items) objects.push({ resource, object: item });
    }
    if (objects.length === 0 && !failed) {
      const where = namespace === undefined ? '' : ` in ${namespace} namespace`;
      deps.io.stderr.write(`No resources found${where}.\n`);
    }
  }
  const ctx: DescribeContext = { now: deps.io.clock.now() };
  let first = true;
  for (const { resource, object } of objects) {
    const text = await describeOne(client, mapper, resource, object, {
      ctx,
      events: flags.showEvents !== false,
    });
    deps.io.stdout.write(first ? text : `\n\n${text}`);
    first = false;
  }
  return failed ? 1 : 0;
}

interface DescribeOptions {
  readonly ctx: DescribeContext;
  readonly events: boolean;
}

async function describeOne(
  client: KubeClient,
  mapper: ResourceMapper,
  r: ApiResource,
  obj: JsonObject,
  opts: DescribeOptions,
): Promise<string> {
  const ns = str(at(obj, 'metadata', 'namespace'));
  const name = str(at(obj, 'metadata', 'name')) ?? '';
  const events = async (includeKind: boolean): Promise<JsonObject[] | undefined> =>
    opts.events ? searchEvents(client, mapper, r, obj, includeKind) : undefined;
  const list = async (
    kind: string,
    selector: { labelSelector?: string; fieldSelector?: string },
    namespace: string | undefined,
  ): Promise<JsonObject[]> => {
    const res = mapper.byKind(kind === 'ReplicaSet' ? 'apps/v1' : 'v1', kind);
    if (res === undefined) return [];
    const out = await client.list(res, namespace, selector);
    return out.ok && Array.isArray(out.value['items']) ? out.value['items'].filter(isJsonObject) : [];
  };
  switch (`${r.group}/${r.kind}`) {
    case '/Pod':
      return describePod(obj, await events(false), opts.ctx);
    case 'apps/Deployment': {
      const replicaSets = await list(
        'ReplicaSet',
        { labelSelector: selectorString(at(obj, 'spec', 'selector')) },
        ns,
      );
      return describeDeployment(obj, { replicaSets, events: await events(true) }, opts.ctx);
    }
    case 'apps/ReplicaSet': {
      const pods = await list('Pod', { labelSelector: selectorString(at(obj, 'spec', 'selector')) }, ns);
      return describeReplicaSet(obj, { pods, events: await events(true) }, opts.ctx);
    }
    case '/Node': {
      const pods = await list(
        'Pod',
        { fieldSelector: `spec.nodeName=${name},status.phase!=Succeeded,status.phase!=Failed` },
        undefined,
      );
      const lease = await nodeLease(client, mapper, name);
      let nodeEvents = await events(true);
      if (nodeEvents !== undefined) {
        // Node events name the node by UID (controllers) or by name (kubelets); kubectl asks for both.
        nodeEvents = [...nodeEvents, ...(await searchEvents(client, mapper, r, obj, true, name))];
      }
      return describeNode(obj, { pods, lease, events: nodeEvents }, opts.ctx);
    }
    case '/Service': {
      const epResource = mapper.byKind('v1', 'Endpoints');
      const ep = epResource === undefined ? undefined : await client.get(epResource, ns, name);
      return describeService(
        obj,
        { endpoints: ep?.ok === true ? ep.value : undefined, events: await events(true) },
        opts.ctx,
      );
    }
    case '/Namespace':
      return describeNamespace(obj, opts.ctx);
    case '/ConfigMap':
      return describeConfigMap(obj, await events(true), opts.ctx);
    default:
      return describeGeneric(obj, await events(true), opts.ctx);
  }
}

/**
 * kubectl's `searchEvents`: the events whose `involvedObject` is `obj`, by the field selector
 * `involvedObject.kind=…,involvedObject.name=…,involvedObject.namespace=…,involvedObject.uid=…`
 * (keys sorted, kind left out for pods). A failed lookup reads as no events, as in kubectl.
 */
export async function searchEvents(
  client: KubeClient,
  mapper: ResourceMapper,
  r: ApiResource,
  obj: JsonObject,
  includeKind: boolean,
  uidOverride?: string,
): Promise<JsonObject[]> {
  const eventResource = mapper.byKind('v1', 'Event');
  if (eventResource === undefined) return [];
  const namespace = str(at(obj, 'metadata', 'namespace')) ?? '';
  const fields = [
    ...(includeKind ? [`involvedObject.kind=${r.kind}`] : []),
    `involvedObject.name=${str(at(obj, 'metadata', 'name')) ?? ''}`,
    `involvedObject.namespace=${namespace}`,
    `involvedObject.uid=${uidOverride ?? str(at(obj, 'metadata', 'uid')) ?? ''}`,
  ];
  const res = await client.list(eventResource, namespace === '' ? undefined : namespace, {
    fieldSelector: fields.join(','),
    limit: 500,
  });
  return res.ok && Array.isArray(res.value['items']) ? res.value['items'].filter(isJsonObject) : [];
}

async function nodeLease(
  client: KubeClient,
  mapper: ResourceMapper,
  name: string,
): Promise<NodeRelated['lease']> {
  const lease = mapper.byKind('coordination.k8s.io/v1', 'Lease');
  if (lease === undefined) {
    // What client-go reports for a group the server does not serve (kubectl prints it as is).
    return { ok: false, error: 'the server could not find the requested resource' };
  }
  const res = await client.get(lease, 'kube-node-lease', name);
  return res.ok
    ? { ok: true, value: res.value }
    : {
        ok: false,
        error: formatStatusError(res.status)
          .replace(/^Error from server \(\w+\): /, '')
          .trimEnd(),
      };
}
