/**
 * The `Events:` section every describer ends with (kubectl `DescribeEvents`): events sorted by last
 * timestamp, AGE as `3m (x5 over 10m)` for repeated events, FROM the reporting component.
 */

import { isJsonObject, type JsonObject } from '../../../api/patch/json-value.js';
import { parseTimestamp } from '../../../api/table/human-duration.js';
import { at, num, str } from '../../../api/table/json.js';
import { LEVEL_0, LEVEL_1, since, type DescribeContext, type PrefixWriter } from './prefix-writer.js';

/** Writes the events section; `events` undefined prints nothing (events were not fetched). */
export function describeEvents(
  w: PrefixWriter,
  events: readonly JsonObject[] | undefined,
  ctx: DescribeContext,
): void {
  if (events === undefined) return;
  if (events.length === 0) {
    w.write(LEVEL_0, 'Events:\t<none>\n');
    return;
  }
  w.flush();
  const sorted = [...events].sort(
    (a, b) => (parseTimestamp(a['lastTimestamp']) ?? 0) - (parseTimestamp(b['lastTimestamp']) ?? 0),
  );
  w.write(LEVEL_0, 'Events:\n  Type\tReason\tAge\tFrom\tMessage\n');
  w.write(LEVEL_1, '----\t------\t----\t----\t-------\n');
  for (const e of sorted) {
    const eventTime = e['eventTime'];
    const first =
      typeof eventTime === 'string' && eventTime !== ''
        ? since(eventTime, ctx)
        : since(e['firstTimestamp'], ctx);
    const series = isJsonObject(e['series']) ? e['series'] : undefined;
    const count = num(e['count']) ?? 0;
    let interval = first;
    if (series !== undefined) {
      interval = `${since(series['lastObservedTime'], ctx)} (x${num(series['count']) ?? 0} over ${first})`;
    } else if (count > 1) {
      interval = `${since(e['lastTimestamp'], ctx)} (x${count} over ${first})`;
    }
    const component = str(at(e, 'source', 'component')) ?? '';
    const source = component === '' ? (str(e['reportingComponent']) ?? '') : component;
    w.write(
      LEVEL_1,
      `${str(e['type']) ?? ''}\t${str(e['reason']) ?? ''}\t${interval}\t${source}\t${(str(e['message']) ?? '').trim()}\n`,
    );
  }
}
