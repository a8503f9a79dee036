/**
 * `berth token list|create|revoke`: manages node join tokens in the controller's data dir. The
 * running server reads the tokens on every join, so changes apply at once, without a restart.
 */
import { Command, InvalidArgumentError } from 'commander';
import { NodeTokenStore, type NodeTokenInfo } from '../controller/gateway/node-tokens.js';
import { realClock } from '../lib/clock.js';
import { BerthError, errorCodes } from '../lib/errors.js';
import { defaultDataDir } from './server-command.js';

function parseTtl(value: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(value);
  if (m === null || Number(m[1]) === 0) {
    throw new InvalidArgumentError(`expected a duration like 30m, 24h or 7d, got "${value}"`);
  }
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

function store(dataDir: string): NodeTokenStore {
  return new NodeTokenStore({ dataDir, clock: realClock });
}

export function tokenCommand(): Command {
  const dataDirOption = ['--data-dir <dir>', "the controller's data dir", defaultDataDir()] as const;
  const command = new Command('token').description(
    'manage the join tokens agents use to join this controller',
  );
  command
    .command('list')
    .description('list join tokens (secrets are not shown: only their hashes are stored)')
    .option(...dataDirOption)
    .action(async (flags: { dataDir: string }) => {
      process.stdout.write(renderTable(await store(flags.dataDir).list()));
    });
  command
    .command('create')
    .description('create a join token and print it (the only time it is shown)')
    .option(...dataDirOption)
    .option('--description <text>', 'what the token is for', '')
    .option('--ttl <duration>', 'lifetime, e.g. 24h or 7d (default: never expires)', parseTtl)
    .action(async (flags: { dataDir: string; description: string; ttl?: number }) => {
      const { token } = await store(flags.dataDir).create({
        description: flags.description,
        ...(flags.ttl === undefined ? {} : { ttlMs: flags.ttl }),
      });
      process.stdout.write(`${token}\n`);
    });
  command
    .command('revoke')
    .description(
      'revoke a join token by id (`server` is the default token); issued node certificates stay valid',
    )
    .argument('<id>', 'token id, as `berth token list` shows it')
    .option(...dataDirOption)
    .action(async (id: string, flags: { dataDir: string }) => {
      if (!(await store(flags.dataDir).revoke(id))) {
        throw new BerthError(
          errorCodes.CONFIG_INVALID,
          `no valid token with id "${id}" (see \`berth token list\`)`,
        );
      }
      process.stdout.write(`token ${id} revoked\n`);
    });
  return command;
}

function renderTable(tokens: readonly NodeTokenInfo[]): string {
  const rows = [
    ['ID', 'KIND', 'STATE', 'CREATED', 'EXPIRES', 'DESCRIPTION'],
    ...tokens.map((t) => [t.id, t.kind, t.state, t.createdAt ?? '-', t.expiresAt ?? 'never', t.description]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('   ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
