/** CPU time and resident memory of a process, read from /proc (Linux), for benchmark side-by-sides. */
import { readFileSync } from 'node:fs';

export interface ProcStats {
  /** User + system CPU seconds consumed so far. */
  readonly cpuSeconds: number;
  readonly rssMb: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux this runs on

/** The process's CPU seconds and RSS, or undefined when it is gone or /proc is unavailable. */
export function procStats(pid: number): ProcStats | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 'NaN');
    return { cpuSeconds: ticks / TICKS_PER_SECOND, rssMb: rssKb / 1024 };
  } catch {
    return undefined;
  }
}
