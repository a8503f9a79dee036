/**
 * The FAKE runtime's streaming exec (`Runtime.execStream`), built on the fake shell (fake-shell.ts):
 *
 * - tty: a tiny interactive shell — echoes what is typed, runs each line on Enter, prints a `/ # `
 *   prompt, ends on `exit [N]`, Ctrl-D on an empty line, or stdin EOF (exit 0);
 * - `cat` with stdin: copies stdin to stdout until EOF (exit 0);
 * - `sh` / `sh -s` with stdin: reads the script from stdin, runs it at EOF;
 * - anything else: runs the command once (`sleep` waits on the clock), writes its output, exits.
 */
import { PassThrough } from 'node:stream';
import type { Clock } from '../../../lib/clock.js';
import type { ExecStreamRequest, ExecStreamSession } from '../runtime.js';
import { runFakeShell } from './fake-shell.js';

export interface FakeExecContext {
  readonly files: ReadonlyMap<string, string>;
  readonly unknownExitCode: number;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
}

/** Starts one fake exec session. */
export function startFakeExec(request: ExecStreamRequest, ctx: FakeExecContext): ExecStreamSession {
  const stdout = new PassThrough();
  const stderr = request.tty ? undefined : new PassThrough();
  const stdin = request.stdin ? new PassThrough() : undefined;
  const finish = (code: number): number => {
    stdout.end();
    stderr?.end();
    return code;
  };
  const cmd = request.cmd;
  const isShell =
    (cmd[0] === 'sh' || cmd[0] === '/bin/sh' || cmd[0] === 'bash') &&
    (cmd.length === 1 || cmd[1] === '-s' || cmd[1] === '-i');
  let exit: Promise<number>;
  if (request.tty && stdin !== undefined && (isShell || cmd.length === 0)) {
    exit = interactive(stdin, stdout, ctx).then(finish);
  } else if (stdin !== undefined && cmd.length === 1 && (cmd[0] === 'cat' || cmd[0] === '/bin/cat')) {
    exit = (async () => {
      for await (const chunk of stdin as AsyncIterable<Buffer>) stdout.write(chunk);
      return finish(0);
    })();
  } else if (stdin !== undefined && isShell) {
    exit = (async () => {
      let script = '';
      for await (const chunk of stdin as AsyncIterable<Buffer>) script += chunk.toString('utf8');
      const lines = script.split('\n').filter((l) => l.trim() !== '');
      return finish(await runOnce(['sh', '-c', lines.join(';')], stdout, stderr ?? stdout, ctx));
    })();
  } else {
    stdin?.resume();
    exit = runOnce(cmd, stdout, stderr ?? stdout, ctx).then(finish);
  }
  return {
    stdout,
    ...(stderr === undefined ? {} : { stderr }),
    ...(stdin === undefined ? {} : { stdin }),
    resize: () => undefined,
    exit,
  };
}

async function runOnce(
  argv: readonly string[],
  out: PassThrough,
  err: PassThrough,
  ctx: FakeExecContext,
): Promise<number> {
  const r = runFakeShell(argv, ctx.files, ctx.unknownExitCode);
  if (r.sleepSeconds > 0) {
    try {
      await ctx.clock.sleep(r.sleepSeconds * 1000, ctx.signal);
    } catch {
      return 137;
    }
  }
  if (r.stdout !== '') out.write(r.stdout);
  if (r.stderr !== '') err.write(r.stderr);
  return r.exitCode;
}

async function interactive(stdin: PassThrough, out: PassThrough, ctx: FakeExecContext): Promise<number> {
  const prompt = '/ # ';
  out.write(prompt);
  let line = '';
  for await (const chunk of stdin as AsyncIterable<Buffer>) {
    for (const ch of chunk.toString('utf8')) {
      if (ch === '\u0004' && line === '') {
        out.write('\r\n');
        return 0;
      }
      if (ch === '\r' || ch === '\n') {
        out.write('\r\n');
        const words = line.trim().split(/\s+/);
        if (words[0] === 'exit') return Number(words[1] ?? 0) || 0;
        if (line.trim() !== '') {
          const r = runFakeShell(['sh', '-c', line], ctx.files, ctx.unknownExitCode);
          const text = r.stdout + r.stderr;
          if (text !== '') out.write(text.replace(/\n/g, '\r\n'));
        }
        line = '';
        out.write(prompt);
      } else if (ch === '\u007f' || ch === '\b') {
        if (line !== '') {
          line = line.slice(0, -1);
          out.write('\b \b');
        }
      } else {
        line += ch;
        out.write(ch);
      }
    }
  }
  return 0;
}
