#!/usr/bin/env node
/**
 * The `berth` command: one binary for every part of Berth (server, agent, and kubectl-like verbs).
 * This file only assembles subcommands; each lives in its own `cli/*-command.ts` module.
 */
import { Command, CommanderError } from 'commander';
import { errorMessage } from '../lib/errors.js';
import { berthVersion } from '../lib/version.js';
import { agentCommand } from './agent-command.js';
import { hollowCommand } from './hollow-command.js';
import { imageCommand } from './image-command.js';
import { serverCommand } from './server-command.js';
import { tokenCommand } from './token-command.js';
import { versionCommand } from './version-command.js';
import { applyCommand } from './verbs/apply-command.js';
import { deleteCommand } from './verbs/delete-command.js';
import { describeCommand } from './verbs/describe-command.js';
import { execCommand } from './verbs/exec.js';
import { getCommand } from './verbs/get-command.js';
import { logsCommand } from './verbs/logs.js';
import { rolloutCommand } from './verbs/rollout-command.js';
import { scaleCommand } from './verbs/scale-command.js';
import { processVerbDeps } from './verbs/verb-support.js';

export function buildProgram(): Command {
  const program = new Command('berth')
    .description('Berth: a Kubernetes-style container orchestrator')
    .version(berthVersion().version, '--version', 'print the version and exit')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.addCommand(serverCommand());
  program.addCommand(agentCommand());
  program.addCommand(hollowCommand());
  program.addCommand(tokenCommand());
  program.addCommand(imageCommand());
  program.addCommand(versionCommand());
  const verbs = processVerbDeps();
  for (const verb of [
    applyCommand,
    getCommand,
    describeCommand,
    deleteCommand,
    scaleCommand,
    rolloutCommand,
    logsCommand,
    execCommand,
  ]) {
    program.addCommand(verb(verbs));
  }
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`error: ${errorMessage(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
