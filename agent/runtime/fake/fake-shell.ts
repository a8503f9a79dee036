/**
 * The FAKE runtime's exec: a few shell words interpreted in memory, enough for probes and the
 * runtime contract (`sh -c 'echo hi; exit 3'`, `true`, `false`, `cat /tmp/healthy`). Files exist only
 * as the fake runtime's per-container map (`FakeRuntime.writeFile`), so a test can flip an exec probe.
 */

export interface FakeShellResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Seconds the command asked to sleep (`sleep N`), for the runtime to wait on its clock. */
  readonly sleepSeconds: number;
}

/**
 * Runs `argv`. `sh -c SCRIPT` runs SCRIPT's `;`/`&&`-separated commands; unknown commands exit with
 * `unknownExitCode`. Pure: files are read from `files`.
 */
export function runFakeShell(
  argv: readonly string[],
  files: ReadonlyMap<string, string>,
  unknownExitCode: number,
): FakeShellResult {
  const first = argv[0] ?? '';
  const isShell =
    (first === 'sh' || first === '/bin/sh' || first === 'bash' || first === '/bin/bash') && argv[1] === '-c';
  const script = isShell ? (argv[2] ?? '') : argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ');
  let stdout = '';
  let stderr = '';
  let sleepSeconds = 0;
  let exitCode = 0;
  for (const part of splitCommands(script)) {
    if (part.op === '&&' && exitCode !== 0) continue;
    const words = splitWords(part.text);
    let toStderr = false;
    if (words.at(-1) === '>&2' || words.at(-1) === '1>&2') {
      words.pop();
      toStderr = true;
    }
    const [cmd, ...rest] = words;
    if (cmd === undefined) continue;
    let out = '';
    switch (cmd) {
      case 'true':
      case ':':
        exitCode = 0;
        break;
      case 'false':
        exitCode = 1;
        break;
      case 'exit':
        return { exitCode: Number(rest[0] ?? exitCode) || 0, stdout, stderr, sleepSeconds };
      case 'echo':
        out = `${rest.join(' ')}\n`;
        exitCode = 0;
        break;
      case 'sleep':
        sleepSeconds += Number(rest[0] ?? 0) || 0;
        exitCode = 0;
        break;
      case 'cat': {
        const content = files.get(rest[0] ?? '');
        if (content === undefined) {
          stderr += `cat: can't open '${rest[0] ?? ''}': No such file or directory\n`;
          exitCode = 1;
        } else {
          out = content;
          exitCode = 0;
        }
        break;
      }
      case 'test':
      case '[':
        exitCode = rest[0] === '-f' || rest[0] === '-e' ? (files.has(rest[1] ?? '') ? 0 : 1) : 1;
        break;
      default:
        exitCode = unknownExitCode;
    }
    if (toStderr) stderr += out;
    else stdout += out;
  }
  return { exitCode, stdout, stderr, sleepSeconds };
}

function splitCommands(script: string): { text: string; op: ';' | '&&' }[] {
  const parts: { text: string; op: ';' | '&&' }[] = [];
  let op: ';' | '&&' = ';';
  let rest = script;
  for (;;) {
    const m = /;|&&/.exec(rest);
    if (m === null) break;
    parts.push({ text: rest.slice(0, m.index), op });
    op = m[0] === '&&' ? '&&' : ';';
    rest = rest.slice(m.index + m[0].length);
  }
  parts.push({ text: rest, op });
  return parts;
}

function splitWords(text: string): string[] {
  const words: string[] = [];
  for (const m of text.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}
