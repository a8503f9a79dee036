/**
 * An open-loop load generator: starts operations at a fixed rate whatever the latency of earlier ones,
 * so that a slow server shows up as latency rather than as a lower offered load (no coordinated
 * omission). Latencies are measured from each operation's scheduled start.
 */
import { performance } from 'node:perf_hooks';

export interface OpenLoopResult {
  readonly issued: number;
  readonly failed: number;
  /** Milliseconds from scheduled start to completion, sorted ascending. */
  readonly latenciesMs: number[];
  readonly seconds: number;
  /** The first few failure messages. */
  readonly errors: string[];
}

/** Runs `op(i)` `rate` times a second for `durationMs`, then waits for the stragglers. */
export async function runOpenLoop(
  rate: number,
  durationMs: number,
  op: (i: number) => Promise<void>,
): Promise<OpenLoopResult> {
  const latencies: number[] = [];
  const errors: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let failed = 0;
  let issued = 0;
  const start = performance.now();
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= durationMs) break;
    const due = Math.floor((elapsed / 1000) * rate);
    while (issued < due) {
      const i = issued++;
      const scheduled = start + (i / rate) * 1000;
      const p = op(i).then(
        () => {
          latencies.push(performance.now() - scheduled);
        },
        (err: unknown) => {
          failed++;
          if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err));
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  return { issued, failed, latenciesMs: latencies, seconds: (performance.now() - start) / 1000, errors };
}
