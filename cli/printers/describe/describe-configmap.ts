/**
 * `describe configmap`, following kubectl's ConfigMapDescriber: each data key with its value under
 * a `----` rule, binary data as byte counts, then events. Keys are printed sorted (kubectl walks a
 * Go map, so its order varies from run to run).
 */

import type { JsonObject } from '../../../api/patch/json-value.js';
import { compare } from '../../../api/table/labels.js';
import { rec } from '../../../api/table/json.js';
import { describeEvents } from './describe-events.js';
import {
  LEVEL_0,
  PrefixWriter,
  printAnnotations,
  printLabels,
  v,
  type DescribeContext,
} from './prefix-writer.js';

/** `kubectl describe configmap` text. */
export function describeConfigMap(
  cm: JsonObject,
  events: readonly JsonObject[] | undefined,
  ctx: DescribeContext,
): string {
  const w = new PrefixWriter();
  const meta = rec(cm['metadata']) ?? {};
  w.write(LEVEL_0, `Name:\t${v(meta['name'])}\n`);
  w.write(LEVEL_0, `Namespace:\t${v(meta['namespace'])}\n`);
  printLabels(w, 'Labels', meta['labels']);
  printAnnotations(w, 'Annotations', meta['annotations']);
  w.write(LEVEL_0, '\nData\n====\n');
  const data = rec(cm['data']) ?? {};
  for (const k of Object.keys(data).sort(compare)) {
    w.write(LEVEL_0, `${k}:\n----\n`);
    w.write(LEVEL_0, `${v(data[k])}\n`);
    w.write(LEVEL_0, '\n');
  }
  w.write(LEVEL_0, '\nBinaryData\n====\n');
  const binary = rec(cm['binaryData']) ?? {};
  for (const k of Object.keys(binary).sort(compare)) {
    w.write(LEVEL_0, `${k}: ${Buffer.from(v(binary[k]), 'base64').length} bytes\n`);
  }
  w.write(LEVEL_0, '\n');
  describeEvents(w, events, ctx);
  return w.text();
}
