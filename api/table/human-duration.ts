/**
 * Durations and ages exactly as Kubernetes prints them (k8s.io/apimachinery/pkg/util/duration
 * `HumanDuration`, and the printers' `translateTimestampSince`), so that `kubectl get` against Berth
 * reads the same as against a real cluster: `45s`, `2m3s`, `10m`, `3h5m`, `2d5h`, `3y12d`.
 */

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;

/**
 * Formats a duration in milliseconds with ~2–3 significant figures. Up to two seconds of negative
 * skew reads as `0s` (clocks differ between machines); more than that is `<invalid>`.
 */
export function humanDuration(ms: number): string {
  // Go's int() truncates toward zero, as Math.trunc does.
  const seconds = Math.trunc(ms / second);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(ms / minute);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(ms / hour);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    const days = Math.trunc(hours / 24);
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const years = Math.trunc(hours / 24 / 365);
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${years}y` : `${years}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/**
 * The age of an RFC 3339 timestamp at `now` (ms since the epoch), or `<unknown>` when the timestamp
 * is missing or unparsable — Kubernetes' `translateTimestampSince`.
 */
export function ageSince(timestamp: unknown, now: number): string {
  const t = parseTimestamp(timestamp);
  return t === undefined ? '<unknown>' : humanDuration(now - t);
}

/** Milliseconds since the epoch of an RFC 3339 string, or `undefined` for anything else. */
export function parseTimestamp(timestamp: unknown): number | undefined {
  if (typeof timestamp !== 'string' || timestamp === '') return undefined;
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? undefined : t;
}
